"""Per-work-item spill files between curate's two passes, and the shard writers of pass 2.

Pass 1 streams each work item's records into three files under OUTPUT/.curate-spill/: the dedup
candidates (`<ref>.cand.parquet`: id, source, text, meta, ordinal), the records it rejected
(`<ref>.rej.parquet`: + reason, stage), both in input order, `ordinal` being the record's place in
the item, and the candidates' dedup keys (`<ref>.keys.bin`: per candidate `pos`, a fixed-width row
of its 32-byte exact digest and its MinHash signature as uint32, so row `pos` is one seek away).
Pass 2 reads the Parquet files back in row groups, so a text crosses no shuffle: reader -> spill ->
kept/ or rejected/ shard. Candidates are written in row groups of SPILL_GROUP_ROWS rows so the
dedup check can read the ids it needs (candidate `pos` = row index) without the whole file; the
signatures it compares are read from the keys file, never sent through a shuffle.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from apache_beam.io.filesystems import FileSystems

from pipelines import beam_files
from tokens import paths

SPILL_FOLDER = ".curate-spill"
SPILL_GROUP_ROWS = 1024            # candidate rows per row group (random access unit)
ROW_GROUP_BYTES = 16 * 1024 * 1024  # output shards: text per row group (held as rows until written)
READ_BATCH_ROWS = 1024


def schemas():
    """(candidate spill, rejected spill, kept shard, rejected shard) Arrow schemas."""
    import pyarrow as pa
    kept = pa.schema([("id", pa.string()), ("source", pa.string()), ("text", pa.string()),
                      ("meta", pa.string())])
    rejected = kept.append(pa.field("reason", pa.string())).append(pa.field("stage", pa.string()))
    ordinal = pa.field("ordinal", pa.int64())
    return kept.append(ordinal), rejected.append(ordinal), kept, rejected


def spill_paths(output_root: str, ref: str) -> tuple[str, str]:
    folder = paths.join(output_root, SPILL_FOLDER)
    return paths.join(folder, f"{ref}.cand.parquet"), paths.join(folder, f"{ref}.rej.parquet")


def keys_path(output_root: str, ref: str) -> str:
    return paths.join(output_root, SPILL_FOLDER, f"{ref}.keys.bin")


DIGEST_BYTES = 32


def key_row_bytes(num_perm: int) -> int:
    """Bytes of one keys-file row: the exact digest, then num_perm uint32 signature values."""
    return DIGEST_BYTES + 4 * num_perm


def key_row(digest: bytes, signature) -> bytes:
    """One keys-file row; the signature keeps the low 32 bits of each permutation (a false per-position
    match has probability 2^-32, so the Jaccard estimate is unchanged in practice)."""
    import numpy as np
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"exact digest of {len(digest)} bytes, expected {DIGEST_BYTES}")
    return digest + np.ascontiguousarray(signature, dtype=np.uint64).astype("<u4").tobytes()


def split_key_row(row: bytes):
    """(digest, uint32 signature) of a keys-file row."""
    import numpy as np
    return row[:DIGEST_BYTES], np.frombuffer(row, dtype="<u4", offset=DIGEST_BYTES)


def read_keys(path: str, positions: Iterable[int], row_bytes: int) -> dict[int, bytes]:
    """{pos: keys-file row} for `positions`, one seek each in file order; a short row (a truncated
    file) is an error, never a guess."""
    out = {}
    with paths.open_read(path) as f:
        for pos in sorted(set(positions)):
            f.seek(pos * row_bytes)
            row = f.read(row_bytes)
            if len(row) != row_bytes:
                raise RuntimeError(f"{path}: row {pos} is {len(row)} bytes, expected {row_bytes} (truncated spill)")
            out[pos] = row
    return out


class _Buffered:
    """A ParquetWriter fed row by row, flushed every `rows` rows or `max_bytes` of strings."""

    def __init__(self, stream, schema, rows: int | None, max_bytes: int = ROW_GROUP_BYTES):
        import pyarrow.parquet as pq
        self.schema, self.rows, self.max_bytes = schema, rows, max_bytes
        self.writer = pq.ParquetWriter(stream, schema, compression="none")
        self.group: list[dict] = []
        self.size = 0
        self.written = 0

    def add(self, row: dict) -> None:
        self.group.append(row)
        self.size += sum(len(v) for v in row.values() if isinstance(v, str))
        if (self.rows and len(self.group) >= self.rows) or self.size >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        if self.group:
            self.writer.write_table(pa.Table.from_pylist(self.group, self.schema))
            self.written += len(self.group)
            self.group, self.size = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


def write_spills(output_root: str, ref: str, records: Callable[[BinaryIO], Iterable[tuple[str, dict]]]) -> int:
    """Stream ("cand" | "rej", row) pairs into the item's spill files (each published atomically).

    `records(keys_stream)` returns the pairs; the caller writes each candidate's key_row() to
    `keys_stream` in candidate order while it yields. Returns the number of candidate rows."""
    cand_schema, rej_schema, _, _ = schemas()
    cand_path, rej_path = spill_paths(output_root, ref)
    count = 0

    def write_all(keys_stream) -> None:
        def write_both(cand_stream) -> None:
            def write_rej(rej_stream) -> None:
                nonlocal count
                cand = _Buffered(cand_stream, cand_schema, SPILL_GROUP_ROWS)
                rej = _Buffered(rej_stream, rej_schema, SPILL_GROUP_ROWS)
                for kind, row in records(keys_stream):
                    (cand if kind == "cand" else rej).add(row)
                cand.close()
                rej.close()
                count = cand.written
            beam_files.publish_stream(rej_path, write_rej)
        beam_files.publish_stream(cand_path, write_both)

    beam_files.publish_stream(keys_path(output_root, ref), write_all)
    return count


def read_rows(path: str, columns: list[str] | None = None) -> Iterator[dict]:
    """Rows of a spill file in order, one row group (SPILL_GROUP_ROWS rows) in memory at a time.

    Row group by row group on purpose: ParquetFile.iter_batches over a whole file kept every row group it
    had read alive until the end (measured: 38 groups, 218 MiB, on a 50,000-document work item), so pass 2
    grew with the item."""
    import pyarrow.parquet as pq
    with paths.open_read(path) as f:
        pf = pq.ParquetFile(f)
        for group in range(pf.num_row_groups):
            table = pf.read_row_group(group, columns=columns, use_threads=False)
            for batch in table.to_batches(max_chunksize=READ_BATCH_ROWS):
                yield from batch.to_pylist()
            del table


def read_positions(path: str, positions: Iterable[int], columns: list[str]) -> dict[int, dict]:
    """{pos: row} for candidate rows `positions`, reading only their row groups."""
    import pyarrow.parquet as pq
    wanted: dict[int, list[int]] = {}
    for pos in sorted(set(positions)):
        wanted.setdefault(pos // SPILL_GROUP_ROWS, []).append(pos)
    out = {}
    with paths.open_read(path) as f:
        pf = pq.ParquetFile(f)
        for group, members in wanted.items():
            rows = pf.read_row_group(group, columns=columns).to_pylist()
            for pos in members:
                out[pos] = rows[pos - group * SPILL_GROUP_ROWS]
    return out


def temp_shard_name(final: str) -> str:
    """Hidden sibling of a final shard (curate_outputs' _SHARD_TEMP pattern: cleaned up by the next run)."""
    return paths.join(paths.dirname(final), f".{paths.basename(final)}.tmp-{uuid.uuid4().hex}")


class ShardWriters:
    """One streaming Parquet writer per output file, each into a hidden temporary; close() -> (temp, final)."""

    def __init__(self, finals: dict[str, tuple[str, object]]):
        self.files, self.writers = {}, {}
        self.finals = finals
        try:
            for key, (final, schema) in finals.items():
                paths.makedirs(paths.dirname(final))
                tmp = temp_shard_name(final)
                self.files[key] = (tmp, FileSystems.create(tmp))
                self.writers[key] = _Buffered(self.files[key][1], schema, None)
        except BaseException:
            self.abort()
            raise

    def add(self, key: str, row: dict) -> None:
        self.writers[key].add(row)

    def written(self, key: str) -> int:
        w = self.writers[key]
        return w.written + len(w.group)

    def close(self) -> list[tuple[str, str]]:
        pairs = []
        for key, writer in self.writers.items():
            writer.close()
            self.files[key][1].close()
            pairs.append((self.files[key][0], self.finals[key][0]))
        return pairs

    def abort(self) -> None:
        for writer in self.writers.values():
            try:
                writer.writer.close()
            except Exception:  # noqa: BLE001 - cleanup after the real error
                pass
        for tmp, stream in self.files.values():
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - cleanup after the real error
                pass
            try:
                paths.delete(tmp)
            except Exception:  # noqa: BLE001
                pass
