"""Training and eval batches from a mixture: a Grain pipeline over the mixture's ArrayRecord sources.

    SamplingPlan picks (source, document) -> TokenizedSource reads the tokens -> greedy sequential packing
    straight into per-host batches of global_batch / process_count rows of seq_len + 1 tokens -> thread prefetch.

Packing (documented choices; the paper does not describe its packer):
  * Documents are appended to the current row in pick order; a row is closed when fewer than 2 slots remain
    (the one free slot is padding), so at most one slot per row is wasted besides the tail of a split document.
  * A document longer than the space left is split: its continuation starts the next row as a fresh segment
    whose positions restart at 0 (every position the model sees stays below seq_len, as at eval time).
    The continuation overlaps the fragment before it by one token, so every next-token transition inside
    a document is trained exactly once, none across the split is lost.
  * inputs = row[:-1], targets = row[1:]; loss_mask is 1 where input and target belong to the same segment,
    so no loss crosses from one document to the next (each document ends with its EOS, which is predicted).
  * `document_ids` (index of the document within its source, -1 on padding) rides along for provenance and
    tests; the trainer drops it before sharding (contract keys: BATCH_KEYS).

Iterator state = SamplingPlan state + the packer's carry-over (source, document index, offset of the
continuation): a few integers, JSON-serialisable; the carried document is re-read on restore, never stored.

Token shares: the plan runs with token feedback (SamplingPlan doc_tokens), fed by every document's length
from the sources' lengths sidecars (TokenizedSource.lengths(), one uint32 array per source loaded once;
every host evaluates every pick of the global stream, so it must not read records). Realised token shares
then stay within 0.5 points of the mixture weights over every 1M-token window (tests/trainer/test_data.py
measures the packed batches); without feedback they drifted 1.8-2.9 points. The plan state then carries
realised tokens per source; states saved before feedback (no "tokens") are completed on restore from their
pick counts (`tokens_from_counts`), so old checkpoints resume.

Held-out eval: a source whose manifest lists held-out shards (pipelines.tokenize --heldout-fraction) is
evaluated on those, which the training plan cannot reach (they are outside the manifest's documents). For
older manifests without them, the last `eval_documents` documents of the source's index space are removed
from the training plan (it is built on a copy of the mixture whose per-source "documents" count is reduced,
so its per-epoch permutations never reach them). Either way they are packed, per source, into a fixed list of
eval batches.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any, Callable, Iterator

import numpy as np

BATCH_KEYS = ("inputs", "targets", "segment_ids", "positions", "loss_mask", "source_ids")


class DataError(RuntimeError):
    """A document could not be read or does not fit the mixture; the message names source and document."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    seq_len: int                  # tokens per packed row L (rows hold L + 1 tokens: inputs and shifted targets)
    global_batch: int             # rows per step over all hosts
    seed: int = 0                 # SamplingPlan seed (the mixture's seed when None is passed to the plan)
    process_index: int = 0        # this host (jax.process_index())
    process_count: int = 1        # hosts (jax.process_count()); each reads disjoint documents
    prefetch: int = 2             # batches prefetched by a Grain thread (0 = synchronous)
    eval_documents: int = 8       # held-out documents per source (capped at 10% of the source)
    pad_id: int = 0               # token id written on padding (masked out of the loss)

    def __post_init__(self):
        if self.global_batch % self.process_count:
            raise ValueError(f"global_batch={self.global_batch} is not divisible by "
                             f"process_count={self.process_count}")

    @property
    def host_batch(self) -> int:
        return self.global_batch // self.process_count


# ----------------------------------------------------------------------------------------------- packing


Carry = tuple  # (source_id, document_index, offset) of a split document's continuation, or None
NextDocument = Callable[[], "tuple[int, int, np.ndarray] | None"]  # -> (source_id, doc index, tokens) | None


class PackBuffer:
    """[rows, seq_len + 1] token / segment / position / source / document buffers, filled row by row.

    One buffer serves every batch of an iterator: rows are written in place (only the padded tail of a row is
    reset) and `arrays()` returns fresh contiguous [rows, seq_len] arrays, so no per-row arrays, dicts or
    np.stack on the hot path (benchmarks/loader.py)."""

    def __init__(self, rows: int, seq_len: int, pad_id: int = 0):
        width = seq_len + 1
        self.rows, self.width, self.pad_id = rows, width, pad_id
        self.tokens = np.full((rows, width), pad_id, np.int32)
        self.segments = np.zeros((rows, width), np.int32)
        self.positions = np.zeros((rows, width), np.int32)
        self.sources = np.full((rows, width), -1, np.int32)
        self.documents = np.full((rows, width), -1, np.int32)
        self._arange = np.arange(width, dtype=np.int32)

    def fill_row(self, r: int, next_document: NextDocument, read: Callable[[int, int], np.ndarray],
                 carry: Carry | None) -> tuple[bool, Carry | None]:
        """Pack row r (see pack_row); returns (row holds a segment, new carry)."""
        width, arange = self.width, self._arange
        tokens_W, seg_W, pos_W = self.tokens[r], self.segments[r], self.positions[r]
        src_W, doc_W = self.sources[r], self.documents[r]
        fill = segment = 0
        while width - fill >= 2:
            if carry is not None:
                sid, index, offset = carry
                doc = read(sid, index)
            else:
                picked = next_document()
                if picked is None:
                    break
                (sid, index, doc), offset = picked, 0
            carry = None
            size = len(doc)
            take = min(size - offset, width - fill)
            if take <= 0:
                continue  # an empty document: nothing to pack
            segment += 1
            end = fill + take
            tokens_W[fill:end] = doc[offset:offset + take]
            seg_W[fill:end] = segment
            pos_W[fill:end] = arange[:take]
            src_W[fill:end] = sid
            doc_W[fill:end] = index
            fill = end
            if offset + take < size:
                carry = (sid, index, offset + take - 1)  # one token of overlap: no transition is lost
        if fill < width:  # padding: the buffer is reused, so reset what an earlier batch left here
            tokens_W[fill:], seg_W[fill:], pos_W[fill:] = self.pad_id, 0, 0
            src_W[fill:], doc_W[fill:] = -1, -1
        return segment > 0, carry

    def arrays(self, rows: int | None = None) -> dict[str, np.ndarray]:
        """Contiguous [rows, seq_len] copies: inputs = tokens[:-1], targets = tokens[1:], loss mask where input
        and target share a segment."""
        n = self.rows if rows is None else rows
        seg = self.segments[:n]
        same = (seg[:, :-1] == seg[:, 1:]) & (seg[:, :-1] > 0)
        return {"inputs": np.ascontiguousarray(self.tokens[:n, :-1]),
                "targets": np.ascontiguousarray(self.tokens[:n, 1:]),
                "segment_ids": np.ascontiguousarray(seg[:, :-1]),
                "positions": np.ascontiguousarray(self.positions[:n, :-1]),
                "loss_mask": same.astype(np.float32),
                "source_ids": np.ascontiguousarray(self.sources[:n, :-1]),
                "document_ids": np.ascontiguousarray(self.documents[:n, :-1])}


def pack_row(seq_len: int, next_document: NextDocument, read: Callable[[int, int], np.ndarray],
             carry: Carry | None, pad_id: int = 0) -> tuple[dict[str, np.ndarray] | None, Carry | None]:
    """Fill one row of seq_len + 1 tokens; return (row arrays of length seq_len, new carry).

    `next_document()` yields the next pick (None when a finite stream is exhausted); `read(source_id, index)`
    re-reads a carried document. Returns (None, None) when the stream is exhausted and the row is empty."""
    buffer = PackBuffer(1, seq_len, pad_id)
    filled, carry = buffer.fill_row(0, next_document, read, carry)
    if not filled:
        return None, None
    return {key: value[0] for key, value in buffer.arrays().items()}, carry


# ----------------------------------------------------------------------------------------------- sources


def resolve_manifest(path: str, mixture_dir: str | None) -> str:
    """A manifest path as written in mixture.json; relative ones that do not exist are tried next to it."""
    if "://" in path or os.path.isabs(path) or os.path.exists(path) or not mixture_dir:
        return path
    candidate = os.path.join(mixture_dir, path)
    return candidate if os.path.exists(candidate) else path


def check_fingerprint(mixture: dict, name: str, path: str, manifest) -> None:
    """DataError when the manifest no longer matches the fingerprint mixture.json recorded for `name`
    (re-tokenized since the build): the message says what changed and how to rebuild."""
    from mixer.inspect import stale_message
    from tokens.manifest import fingerprint, fingerprint_changes

    recorded = mixture["sources"][name].get("fingerprint")
    if recorded is None:   # a mixture built before fingerprints: nothing to compare
        return
    changes = fingerprint_changes(recorded, fingerprint(manifest), [s.path for s in manifest.shards])
    if changes:
        raise DataError(stale_message(mixture, name, path, changes))


class SourceReaders:
    """One TokenizedSource per mixture source, opened on first use; reads carry source/document context."""

    def __init__(self, mixture: dict, mixture_dir: str | None = None, verify: bool = True):
        self.names = sorted(mixture["sources"])
        self._mixture, self._dir, self._verify = mixture, mixture_dir, verify
        self._open: dict[int, Any] = {}
        self._heldout: dict[int, Any] = {}

    def has_heldout(self, sid: int) -> bool:
        """Does the source's manifest carry its own held-out shards?"""
        return bool(self.source(sid).manifest.heldout)

    def read_heldout(self, sid: int, index: int) -> np.ndarray:
        """Held-out document `index` of source `sid` (its manifest's heldout shards)."""
        if sid not in self._heldout:
            from tokens.source import TokenizedSource

            self._heldout[sid] = TokenizedSource(self.source(sid).manifest.heldout_manifest())
        try:
            return self._heldout[sid][index]
        except Exception as e:
            raise DataError(f"source {self.names[sid]!r} held-out document {index}: {type(e).__name__}: {e}") from e

    def source(self, sid: int):
        if sid not in self._open:
            from tokens.source import TokenizedSource

            name = self.names[sid]
            path = resolve_manifest(self._mixture["sources"][name]["manifest"], self._dir)
            src = TokenizedSource.open(path, verify=self._verify)
            want = self._mixture.get("tokenizer_sha256")
            have = src.manifest.tokenizer_sha256
            if want and have != want:
                raise DataError(f"source {name!r} ({path}) was tokenized with {have[:12]}..., "
                                f"the mixture expects {want[:12]}...")
            check_fingerprint(self._mixture, name, path, src.manifest)
            self._open[sid] = src
        return self._open[sid]

    def lengths(self, sid: int) -> np.ndarray:
        """Tokens of every document of source `sid` (uint32, TokenizedSource.lengths: sidecars, checked)."""
        try:
            return self.source(sid).lengths()
        except DataError:
            raise
        except Exception as e:  # missing or inconsistent sidecar: the reader names the file
            raise DataError(f"source {self.names[sid]!r}: document lengths: {type(e).__name__}: {e}") from e

    def read(self, sid: int, index: int) -> np.ndarray:
        """Document `index` of source `sid` as int32 ids (TokenizedSource has checked them)."""
        try:
            source = self._open.get(sid)
            return (self.source(sid) if source is None else source)[index]
        except DataError:
            raise
        except Exception as e:  # corrupt record, missing shard, index out of range: keep the reader's words
            raise DataError(f"source {self.names[sid]!r} document {index}: {type(e).__name__}: {e}") from e


def holdout_counts(mixture: dict, eval_documents: int, split: frozenset = frozenset()) -> dict[str, int]:
    """Documents held out of the index space per source: `eval_documents`, at most 10% of the source (0 for
    sources under 10 documents, and for the sources in `split`, whose manifests hold a held-out set apart)."""
    return {name: 0 if name in split else min(eval_documents, int(spec["documents"]) // 10)
            for name, spec in mixture["sources"].items()}


def split_sources(readers: SourceReaders) -> frozenset:
    """Names of the sources whose manifests carry held-out shards."""
    return frozenset(name for sid, name in enumerate(readers.names) if readers.has_heldout(sid))


def training_mixture(mixture: dict, eval_documents: int, split: frozenset = frozenset()) -> dict:
    """The mixture the training plan sees: each source's last held-out documents removed from its index space."""
    held = holdout_counts(mixture, eval_documents, split)
    out = copy.deepcopy(mixture)
    for name, spec in out["sources"].items():
        spec["documents"] = int(spec["documents"]) - held[name]
    return out


def document_lengths(mixture: dict, readers: SourceReaders) -> dict[str, np.ndarray]:
    """Per source with a positive weight: tokens of every document (index space of the full source, so the
    training plan's indices, below the held-out tail, address it directly)."""
    out = {}
    for sid, name in enumerate(readers.names):
        spec = mixture["sources"][name]
        if float(spec["weight"]) <= 0:
            continue
        values = readers.lengths(sid)
        if values.size < int(spec["documents"]):
            raise DataError(f"source {name!r}: {values.size} document lengths, the mixture says "
                            f"{spec['documents']} documents")
        out[name] = values
    return out


def tokens_from_counts(plan, plan_mixture: dict, counts: dict[str, int],
                       lengths: dict[str, np.ndarray]) -> dict[str, int]:
    """Realised tokens per source after `counts` picks: source s's picks are the first counts[s] documents of
    its epoch permutations, whatever the other sources did (O(picks of the last partial epoch))."""
    tokens = {}
    for i, name in enumerate(plan.sources):
        count = int(counts.get(name, 0))
        if count == 0 or name not in lengths:
            tokens[name] = 0
            continue
        n = int(plan_mixture["sources"][name]["documents"])
        epochs, rest = divmod(count, n)
        total = epochs * int(lengths[name][:n].sum(dtype=np.int64))
        if rest:
            picked = np.fromiter((plan.document(i, c) for c in range(epochs * n, count)), np.int64, rest)
            total += int(lengths[name][picked].sum(dtype=np.int64))
        tokens[name] = total
    return tokens


# ----------------------------------------------------------------------------------------------- Grain


def _grain():
    import grain.python as gp
    from grain import experimental as gx
    return gp, gx


def _iterator_class():
    gp, _ = _grain()

    class _PackedBatchIterator(gp.DatasetIterator):
        """Infinite stream of packed host batches following the sampling plan; state = plan state + carry.

        Rows are packed straight into one reused [host_batch, seq_len + 1] PackBuffer. The state is the one
        a row iterator under Grain's .batch() had (Grain's batch state is its parent's), so checkpoints of
        either restore in the other."""

        def __init__(self, mixture: dict, cfg: DataConfig, mixture_dir: str | None):
            super().__init__()
            from mixer.sampling_plan import SamplingPlan

            self._cfg = cfg
            self._readers = SourceReaders(mixture, mixture_dir)
            lengths = self._lengths = document_lengths(mixture, self._readers)   # opens (and checks) sources
            self._plan_mixture = training_mixture(mixture, cfg.eval_documents, split_sources(self._readers))
            self._plan = SamplingPlan(self._plan_mixture, seed=cfg.seed, process_index=cfg.process_index,
                                      process_count=cfg.process_count,
                                      doc_tokens=lambda source, index: lengths[source][index])
            if list(self._plan.sources) != self._readers.names:
                raise DataError(f"plan sources {self._plan.sources} != mixture sources {self._readers.names}")
            self._sid = {name: i for i, name in enumerate(self._readers.names)}
            self._carry: Carry | None = None
            self._rows = 0
            self._buffer = PackBuffer(cfg.host_batch, cfg.seq_len, cfg.pad_id)
            self._last: tuple[int, int, np.ndarray] | None = None  # last document read (a split one's rest)

        def _read(self, sid: int, index: int) -> np.ndarray:
            """Read through a one-document cache: a document split over k rows is read and decoded once,
            not k times (long documents dominated the loader's CPU time without it; benchmarks/loader.py)."""
            last = self._last
            if last is not None and last[0] == sid and last[1] == index:
                return last[2]
            doc = self._readers.read(sid, index)
            self._last = (sid, index, doc)
            return doc

        def _next_document(self):
            name, index = self._plan.next()
            sid = self._sid[name]
            doc = self._readers.read(sid, index)
            self._last = (sid, index, doc)
            return sid, index, doc

        def __next__(self) -> dict[str, np.ndarray]:
            fill_row, next_document, read = self._buffer.fill_row, self._next_document, self._read
            for r in range(self._buffer.rows):  # state advances row by row, as under Grain's .batch()
                _, self._carry = fill_row(r, next_document, read, self._carry)
                self._rows += 1
            return self._buffer.arrays()

        def get_state(self) -> dict[str, Any]:
            carry = None if self._carry is None else [int(x) for x in self._carry]
            return {"plan": self._plan.get_state(), "carry": carry, "rows": self._rows}  # plan state: fresh dicts

        def set_state(self, state: dict[str, Any]) -> None:
            plan_state = copy.deepcopy(state["plan"])
            if "tokens" not in plan_state:   # saved before token feedback: its tokens follow from the counts
                plan_state["tokens"] = tokens_from_counts(self._plan, self._plan_mixture,
                                                          plan_state.get("counts") or {}, self._lengths)
            self._plan.set_state(plan_state)
            self._carry = None if state["carry"] is None else tuple(int(x) for x in state["carry"])
            self._rows = int(state["rows"])
            self._last = None

    return _PackedBatchIterator


def _dataset_class():
    gp, _ = _grain()
    iterator_cls = _iterator_class()

    class PackedBatchIterDataset(gp.IterDataset):
        """Grain IterDataset of packed host batches over a mixture (one per host)."""

        def __init__(self, mixture: dict, cfg: DataConfig, mixture_dir: str | None = None):
            super().__init__()
            self._mixture, self._cfg, self._dir = mixture, cfg, mixture_dir

        def __iter__(self):
            return iterator_cls(self._mixture, self._cfg, self._dir)

    return PackedBatchIterDataset


def make_train_iterator(mixture: dict, cfg: DataConfig, mixture_dir: str | None = None):
    """Grain iterator of host batches {key: [host_batch, seq_len]}; get_state()/set_state() restore exactly."""
    _, gx = _grain()
    ds = _dataset_class()(mixture, cfg, mixture_dir)
    if cfg.prefetch > 0:
        ds = gx.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=cfg.prefetch)
    return iter(ds)


def make_eval_batches(mixture: dict, cfg: DataConfig, num_batches: int,
                      mixture_dir: str | None = None) -> list[dict[str, np.ndarray]]:
    """Fixed eval batches for this host from the held-out documents, packed per source.

    Rows of all sources are interleaved source by source, split across hosts row i -> host i % count, and the
    last batch is completed with empty rows (loss_mask 0), so every host runs the same number of eval steps."""
    readers = SourceReaders(mixture, mixture_dir)
    split = split_sources(readers)
    held = holdout_counts(mixture, cfg.eval_documents, split)
    per_source_rows = max(1, num_batches * cfg.global_batch // max(1, len(readers.names)))
    rows: list[dict[str, np.ndarray]] = []
    for sid, name in enumerate(readers.names):
        total = int(mixture["sources"][name]["documents"])
        if name in split:
            read = readers.read_heldout
            pending: Iterator[int] = iter(range(readers.source(sid).manifest.heldout_manifest().documents))
        else:
            read = readers.read
            pending = iter(range(total - held[name], total))

        def next_document(sid=sid, pending=pending, read=read):
            index = next(pending, None)
            return None if index is None else (sid, index, read(sid, index))

        carry = None
        for _ in range(per_source_rows):
            row, carry = pack_row(cfg.seq_len, next_document, read, carry, cfg.pad_id)
            if row is None:
                break
            rows.append(row)
    mine = rows[cfg.process_index::cfg.process_count]
    count = -(-len(rows) // cfg.global_batch)
    count = min(count, num_batches)
    mine = mine[:count * cfg.host_batch]
    while len(mine) < count * cfg.host_batch:
        mine.append(empty_row(cfg.seq_len, cfg.pad_id))
    return [{k: np.stack([r[k] for r in mine[b * cfg.host_batch:(b + 1) * cfg.host_batch]])
             for k in mine[0]} for b in range(count)]


def empty_row(seq_len: int, pad_id: int = 0) -> dict[str, np.ndarray]:
    """A row of padding only (loss_mask 0): fills the last eval batch."""
    pad = np.full(seq_len, pad_id, np.int32)
    zeros, minus = np.zeros(seq_len, np.int32), np.full(seq_len, -1, np.int32)
    return {"inputs": pad, "targets": pad.copy(), "segment_ids": zeros, "positions": zeros.copy(),
            "loss_mask": np.zeros(seq_len, np.float32), "source_ids": minus, "document_ids": minus.copy()}
