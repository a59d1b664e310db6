"""The tokenize job's passes: each document's tokens go encoder -> spill -> shard, never through a shuffle.

A work item is one row group of one curated kept Parquet file. Pass 0 (`ItemKeys`) reads an item's ids
and emits its document count and its smallest held-out keys, from which the minimum-count thresholds of the
held-out rule follow. Pass A (`EncodeItem`) encodes the item, streams its tokens (EOS appended; uint16 when
the vocabulary fits, else uint32) into OUTPUT/.tokenize-spill/<source>/<item>.tokens in input order and
emits only small records: the item's per-document token counts, and per held-out candidate its key, place
and, with the overlap rule on, its distinct 32-token window hashes (pipelines/heldout_overlap.py). Pass H
(`FindHits`, overlap rule only) reads each spill back, hashes every document's windows and marks the
candidate windows found in another document in a bitmap that is OR-combined. `plan_shards` then cuts
each source's training documents, in input order (items by file name and row group, rows in order), into
`count` contiguous runs of about equal tokens (shard = tokens before the document x count // total), and
the held-out ones likewise; pass B (`WriteShard`) streams each shard's documents from the spills into an
ArrayRecord shard and its lengths sidecar, both under hidden temporary names. `publish` renames them only
once every shard of every source is written, so a failing item or shard publishes nothing.
"""
from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections import Counter

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines import beam_files
from pipelines.heldout_overlap import window_hashes
from tokens import checksums, paths, records, shards
from tokens.lengths import encode as encode_lengths

SPILL_FOLDER = ".tokenize-spill"
CANDIDATES = "candidates"
TRAIN, HELDOUT = "train", "heldout"
READ_BATCH = 256   # rows per Parquet batch in passes 0 and H


def spill_root(output: str) -> str:
    return paths.join(output, SPILL_FOLDER)


def spill_path(output: str, source: str, item: tuple[str, int]) -> str:
    digest = hashlib.sha256(f"{item[0]}\0{item[1]}".encode("utf-8")).hexdigest()[:24]
    return paths.join(spill_root(output), source, f"{digest}.tokens")


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= 1 << 16 else np.uint32


def item_order(item: tuple[str, int]) -> tuple[str, int]:
    """Items in input order: by file name, then row group."""
    return paths.basename(item[0]), item[1]


def _is_text(arrow_type) -> bool:
    import pyarrow as pa
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def valid_mask(batch) -> np.ndarray:
    """Rows the job tokenizes: a non-empty string id and a string text (others are counted, not encoded)."""
    import pyarrow.compute as pc
    ids, texts = batch.column("id"), batch.column("text")
    if not (_is_text(ids.type) and _is_text(texts.type)):
        return np.zeros(len(batch), bool)
    ok = pc.and_(pc.and_(ids.is_valid(), texts.is_valid()), pc.greater(pc.utf8_length(ids), 0))
    return np.asarray(ok.fill_null(False).to_numpy(zero_copy_only=False), bool)


def read_batches(path: str, row_group: int, columns: list[str], batch_size: int = READ_BATCH):
    """Record batches of one row group (a missing column is an error naming the file)."""
    import pyarrow.parquet as pq
    with paths.open_read(path) as f:
        pf = pq.ParquetFile(f)
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise ValueError(f"{path}: no column {missing} (curated kept shards have id, source, text)")
        yield from pf.iter_batches(batch_size=batch_size, row_groups=[row_group], columns=columns)


def item_ids(path: str, group: int) -> list[str]:
    """Ids of the documents of one row group that the job tokenizes (valid_mask), in order. The text column
    is read only when its statistics do not rule out nulls."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    with paths.open_read(path) as f:
        meta = pq.ParquetFile(f).metadata
    schema = meta.schema.to_arrow_schema()
    columns = ["id", "text"]
    if "text" in schema.names and _is_text(schema.field("text").type):
        stats = meta.row_group(group).column(schema.get_field_index("text")).statistics
        if stats is not None and stats.has_null_count and stats.null_count == 0:
            columns = ["id"]
    ids = []
    for batch in read_batches(path, group, columns, 8192):
        if columns == ["id"]:
            batch = pa.RecordBatch.from_arrays([batch.column("id"), pa.array([""] * len(batch))], ["id", "text"])
        valid = valid_mask(batch)
        ids += [i for i, ok in zip(batch.column("id").to_pylist(), valid) if ok]
    return ids


class ListItems(beam.DoFn):
    """source -> (source, (kept Parquet path, row group)) for every row group of its kept shards."""

    def __init__(self, curated: str):
        self.curated = curated

    def process(self, source):
        import pyarrow.parquet as pq
        beam_files.configure_gcs_emulator()
        folder = paths.join(self.curated, "kept", source)
        for name in paths.list_dir(folder):   # a literal listing (no glob expansion of the folder)
            if name.endswith(".parquet"):
                path = paths.join(folder, name)
                with paths.open_read(path) as f:
                    groups = pq.ParquetFile(f).metadata.num_row_groups
                for group in range(groups):
                    yield source, (path, group)


class ItemKeys(beam.DoFn):
    """Pass 0: (source, item) -> (source, (valid documents, its `wide` smallest held-out keys))."""

    def __init__(self, wide: int):
        self.wide = wide

    def process(self, element):
        beam_files.configure_gcs_emulator()
        source, (path, group) = element
        keys = [shards.heldout_key(i) for i in item_ids(path, group)]
        yield source, (len(keys), sorted(keys)[:self.wide])


def merge_keys(grouped, wide: int) -> tuple[int, list[int]]:
    """Per-item (documents, smallest keys) of one source -> (documents, its `wide` smallest keys)."""
    documents, smallest = 0, []
    for n, keys in grouped:
        documents += n
        smallest = sorted(smallest + list(keys))[:wide]
    return documents, smallest


class EncodeItem(beam.DoFn):
    """Pass A: (source, item) -> (source, (item, spill path, token counts)); tagged CANDIDATES:
    (source, id, held-out key, item, position, windows or None) per held-out candidate."""

    def __init__(self, config, output: str, fraction: float, overlap_rule: bool):
        self.config, self.output, self.fraction, self.overlap_rule = config, output, fraction, overlap_rule

    def setup(self):
        from tokens.tokenizer import Tokenizer, default_num_threads
        beam_files.configure_gcs_emulator()
        self.tok = Tokenizer.load(self.config.tokenizer, self.config.num_threads or default_num_threads())
        if self.tok.sha256 != self.config.tokenizer_sha256:
            raise RuntimeError(f"{self.config.tokenizer} changed during the job "
                               f"({self.tok.sha256[:12]} != {self.config.tokenizer_sha256[:12]})")
        self.dtype = token_dtype(self.config.vocab_size)

    def process(self, element, thresholds):
        source, item = element
        threshold = thresholds.get(source, (0, -1))[1]
        cut = self.fraction * 2.0 ** 64
        eos = np.array([self.tok.eos_id], dtype=np.int32)
        lengths: list[int] = []
        path = spill_path(self.output, source, item)
        paths.makedirs(paths.dirname(path))
        try:
            yield from self._encode(source, item, path, threshold, cut, eos, lengths)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):   # a full disk names the spill
                raise paths.write_error(e, path) from e
            raise
        Metrics.counter("tokenize", f"{source}/documents").inc(len(lengths))
        Metrics.counter("tokenize", f"{source}/tokens").inc(int(sum(lengths)))
        yield source, (item, path, np.asarray(lengths, dtype=np.uint32))

    def _encode(self, source, item, path, threshold, cut, eos, lengths):
        invalid = mismatched = 0
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as spill:
            for batch in read_batches(item[0], item[1], ["id", "source", "text"], self.config.batch_size):
                valid = valid_mask(batch)
                invalid += int((~valid).sum())
                mismatched += sum(1 for s in batch.column("source").to_pylist() if s != source)
                ids = [i for i, ok in zip(batch.column("id").to_pylist(), valid) if ok]
                texts = [t for t, ok in zip(batch.column("text").to_pylist(), valid) if ok]
                docs = [np.concatenate((a, eos)) for a in self.tok.encode_arrays(texts)]
                if docs:
                    spill.write(np.concatenate(docs).astype(self.dtype).tobytes())
                for doc_id, doc in zip(ids, docs):
                    key = shards.heldout_key(doc_id)
                    if key < cut or key <= threshold:
                        windows = window_hashes(doc) if self.overlap_rule else None
                        yield TaggedOutput(CANDIDATES, (source, doc_id, key, item, len(lengths), doc.size, windows))
                    lengths.append(doc.size)
        if invalid:
            Metrics.counter("tokenize", f"{source}/invalid_rows").inc(invalid)
        if mismatched:   # the directory decides the source (pipelines/sources/curated.py)
            Metrics.counter("curated_input", f"{source}/source_column_mismatch").inc(mismatched)


def read_docs(path: str, lengths: np.ndarray, dtype, offsets: np.ndarray | None = None):
    """Token arrays of a spill, in order: every document (`offsets` None) or those at token `offsets`."""
    size = np.dtype(dtype).itemsize
    with paths.open_read(path) as f:
        at = 0
        for i, n in enumerate(lengths.tolist()):
            if offsets is not None and int(offsets[i]) != at:
                f.seek(int(offsets[i]) * size)
                at = int(offsets[i])
            data = f.read(n * size)
            if len(data) != n * size:
                raise OSError(f"{path}: spill ends before document {i} ({len(data)} of {n * size} bytes)")
            at += n
            yield np.frombuffer(data, dtype=dtype)


class FindHits(beam.DoFn):
    """Pass H: per item, the candidate windows (heldout_overlap.WindowIndex entries) its documents hold for
    another key; emits one packed bitmap per bundle (entries / 8 bytes)."""

    def __init__(self, vocab_size: int):
        self.dtype = token_dtype(vocab_size)

    def start_bundle(self):
        self.hit = None

    def process(self, element, index):
        source, (item, path, lengths) = element
        if index is None or not index.entries:
            return
        beam_files.configure_gcs_emulator()
        if self.hit is None:
            self.hit = np.zeros(index.entries, bool)
        ids = item_ids(item[0], item[1])
        if len(ids) != len(lengths):
            raise RuntimeError(f"{item[0]} row group {item[1]}: {len(ids)} documents now, {len(lengths)} encoded")
        for doc_id, doc in zip(ids, read_docs(path, lengths, self.dtype)):
            index.mark(self.hit, (source, doc_id), window_hashes(doc))

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue
        if self.hit is not None and self.hit.any():
            yield WindowedValue(np.packbits(self.hit), 0, [GlobalWindow()])
        self.hit = None


class OrBits(beam.CombineFn):
    """OR of packed bitmaps (None: no hits anywhere)."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, bits):
        return bits.copy() if acc is None else np.bitwise_or(acc, bits)

    def merge_accumulators(self, accs):
        out = None
        for acc in accs:
            if acc is not None:
                out = acc.copy() if out is None else np.bitwise_or(out, acc)
        return out

    def extract_output(self, acc):
        return acc


def plan_shards(grouped, held: dict, split_counts) -> list:
    """One source's items -> [((source, split, index, count), [(spill path, token offsets, lengths)])].

    `held`: {(source, item): {position: tokens}} of held-out documents; `split_counts(split, tokens)`: shards
    of a split. Documents keep input order; a document goes to shard (tokens of its split before it) * count
    // (the split's tokens), so shards are contiguous runs of about equal tokens. Every shard is listed,
    empty ones included."""
    source, items = grouped
    items = sorted((it for it in items if it is not None), key=lambda it: item_order(it[0]))
    parts = {TRAIN: [], HELDOUT: []}
    for item, path, lengths in items:
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
        out = np.zeros(len(lengths), bool)
        out[list(held.get((source, item), {}))] = True
        parts[TRAIN].append((path, offsets[~out], lengths[~out]))
        parts[HELDOUT].append((path, offsets[out], lengths[out]))
    tasks = []
    for split, segments in parts.items():
        total = int(sum(int(n.sum()) for _, _, n in segments))
        count = split_counts(split, total)
        if count == 0:
            continue
        per_shard: list[list] = [[] for _ in range(count)]
        before = 0
        for path, offsets, lengths in segments:
            if not len(lengths):
                continue
            starts = before + np.concatenate(([0], np.cumsum(lengths)[:-1]))
            index = starts * count // max(1, total)
            before += int(lengths.sum())
            for k in np.unique(index).tolist():
                pick = index == k
                per_shard[k].append((path, offsets[pick].astype(np.uint64), lengths[pick].astype(np.uint32)))
        tasks += [((source, split, k, count), per_shard[k]) for k in range(count)]
    return tasks


def staged_name(final: str) -> str:
    """Hidden sibling a shard is written under until `publish` (shards.TEMP_PREFIX: a later run removes it)."""
    return paths.join(paths.dirname(final), f"{shards.TEMP_PREFIX}{uuid.uuid4().hex}-{paths.basename(final)}")


class WriteShard(beam.DoFn):
    """Pass B: ((source, split, index, count), segments) -> (source, summary): the shard and its sidecar,
    written (shards.write_shard / write_lengths: atomic, gs:// too) under a hidden staged name that
    `publish` renames."""

    def __init__(self, output: str, vocab_size: int, batch: int = 256):
        self.output, self.dtype, self.batch = output, token_dtype(vocab_size), batch

    def process(self, element):
        beam_files.configure_gcs_emulator()
        (source, split, index, count), segments = element
        name = (shards.heldout_name if split == HELDOUT else shards.shard_name)(index, count)
        final = paths.join(self.output, source, name)
        staged = staged_name(final)
        doc_lengths: list[int] = []
        try:
            written = shards.write_shard(staged, self._records(segments, source, doc_lengths))
            if written.records != len(doc_lengths):
                raise RuntimeError(f"{final}: wrote {written.records} records of {len(doc_lengths)}")
            sidecar = shards.write_lengths(staged, doc_lengths)
        except OSError as e:   # a full disk names the shard or sidecar the user will look for
            named = OSError(str(e).replace(staged, final).replace(shards.lengths_name(staged),
                                                                  shards.lengths_name(final)))
            named.errno = e.errno
            raise named from e
        Metrics.counter("tokenize", f"{source}/shards").inc()
        yield source, {"split": split, "path": name, "lengths_path": shards.lengths_name(name),
                       "documents": written.records, "tokens": int(sum(doc_lengths)),
                       "lengths": dict(Counter(doc_lengths)), "bytes": written.bytes, "crc32c": written.crc32c,
                       "lengths_crc32c": checksums.of_bytes(encode_lengths(doc_lengths)).crc32c,
                       "staged": [(staged, final), (sidecar, shards.lengths_name(final))]}

    def _records(self, segments, source: str, doc_lengths: list[int]):
        """The shard's records in order, serialized a batch at a time; their token counts into doc_lengths."""
        pending = []
        for path, offsets, lengths in segments:
            for doc in read_docs(path, lengths, self.dtype, offsets):
                pending.append(doc.astype(np.int32))
                if len(pending) >= self.batch:
                    yield from records.encode_examples(pending, [source] * len(pending))
                    doc_lengths.extend(d.size for d in pending)
                    pending = []
        if pending:
            yield from records.encode_examples(pending, [source] * len(pending))
            doc_lengths.extend(d.size for d in pending)


def publish(summaries: list) -> list:
    """Rename every staged shard and sidecar to its final name (after all were written); (source, summary)."""
    out = []
    for source, summary in sorted(summaries, key=lambda s: (s[0], s[1]["path"])):
        for staged, final in summary.pop("staged"):
            if paths.is_remote(final):
                FileSystems.rename([staged], [final])
            else:
                os.replace(staged, final)
        out.append((source, summary))
    return out


def remove_spill(output: str) -> None:
    """Delete OUTPUT/.tokenize-spill (this run's or a killed run's) and everything under it."""
    import shutil
    root = spill_root(output)
    if not paths.is_remote(root):
        shutil.rmtree(root, ignore_errors=True)
        return
    for path in beam_files.list_files(root):
        paths.delete(path)
