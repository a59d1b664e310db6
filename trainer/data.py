"""Training and eval batches from a mixture: a Grain pipeline over the mixture's ArrayRecord sources.

    host slice of each source's shards (trainer.host_slices) -> SamplingPlan with token feedback picks
    (source, document) -> TokenizedSource reads checked tokens -> packing into host batches of
    global_batch / process_count rows (trainer.packing) -> thread prefetch.

The iterator state is the plan state + the packer's carry (a few integers, JSON): a resumed run sees
exactly the batches it would have seen. Token feedback keeps each host's stream, hence every global
batch, within half a point of the mixture's token shares per 1M-token window. Held-out documents (a
manifest's held-out shards, or for older manifests the last `eval_documents` of each source's index
space) never reach the training plan. The reasoning behind each choice is in docs/decisions.md
("Trainer data").
"""
from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any, Iterator

import grain.python as gp
import numpy as np
from grain import experimental as gx

from mixer.sampling_plan import SamplingPlan
from trainer import host_slices
from trainer.packing import Carry, PackBuffer, empty_row, pack_row

__all__ = ["BATCH_KEYS", "DataConfig", "DataError", "PackBuffer", "SourceReaders", "empty_row", "make_eval_batches",
           "make_train_iterator", "pack_row"]

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
    from mixer.api import stale_message
    from tokens.manifest import fingerprint, fingerprint_changes

    if manifest.vocab_size != int(mixture["vocab_size"]) or manifest.tokenizer_sha256 != mixture["tokenizer_sha256"]:
        raise DataError(f"{name}: {path} was tokenized with a {manifest.vocab_size}-token tokenizer "
                        f"(sha256 {manifest.tokenizer_sha256[:12]}), the mixture says vocab_size "
                        f"{mixture['vocab_size']} (sha256 {str(mixture['tokenizer_sha256'])[:12]}): ids past the "
                        "embedding table train to NaN. Rebuild the mixture from these manifests: "
                        + (mixture.get("command") or "python -m mixer build ..."))
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
            src = TokenizedSource.open(path, verify=False)     # shards are checked by check()/on first read
            want = self._mixture.get("tokenizer_sha256")
            have = src.manifest.tokenizer_sha256
            if want and have != want:
                raise DataError(f"source {name!r} ({path}) was tokenized with {have[:12]}..., "
                                f"the mixture expects {want[:12]}...")
            check_fingerprint(self._mixture, name, path, src.manifest)
            self._open[sid] = src
        return self._open[sid]

    def check(self, sid: int, shards=None) -> None:
        """Open these shards of source `sid` (default: all) and check their record counts now (DataError)."""
        if not self._verify:
            return
        src = self.source(sid)
        try:
            src.check_shards(range(len(src.shard_paths)) if shards is None else shards)
        except Exception as e:
            raise DataError(f"source {self.names[sid]!r}: {type(e).__name__}: {e}") from e

    def shard_lengths(self, sid: int, shard: int) -> np.ndarray:
        """Tokens of every document of one shard of source `sid` (its lengths sidecar, checked)."""
        try:
            return self.source(sid).shard_lengths(shard)
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"source {self.names[sid]!r}: document lengths: {type(e).__name__}: {e}") from e

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


class _PackedBatchIterator(gp.DatasetIterator):
    """Infinite stream of packed host batches following this host's sampling plan.

    Rows are packed straight into one reused [host_batch, seq_len + 1] PackBuffer. The state is the one
    a row iterator under Grain's .batch() had (Grain's batch state is its parent's), so checkpoints of
    either restore in the other; on several hosts it also names the host's shard slices."""

    def __init__(self, mixture: dict, cfg: DataConfig, mixture_dir: str | None):
        super().__init__()
        self._cfg, self._hosts = cfg, cfg.process_count
        self._readers = SourceReaders(mixture, mixture_dir)
        try:
            plan_mixture = training_mixture(mixture, cfg.eval_documents, split_sources(self._readers))
            host = host_slices.host_data(plan_mixture, self._readers, cfg.seed, cfg.process_index,
                                         cfg.process_count)
        except ValueError as e:
            raise DataError(str(e)) from None
        self._plan_mixture, self._fingerprint = host.mixture, host.fingerprint
        lengths = self._lengths = host.lengths
        self._plan = SamplingPlan(self._plan_mixture, seed=host.seed,
                                  doc_tokens=lambda source, index: lengths[source][index])
        if list(self._plan.sources) != self._readers.names:
            raise DataError(f"plan sources {self._plan.sources} != mixture sources {self._readers.names}")
        self._sid = {name: i for i, name in enumerate(self._readers.names)}
        self._global = [None if name not in host.slices or host.slices[name].mode in ("all", "replicated")
                        else host.slices[name].global_index for name in self._readers.names]
        self._sources = [self._readers.source(sid) if name in host.slices else None
                         for sid, name in enumerate(self._readers.names)]
        self._carry: Carry | None = None
        self._rows = 0
        self._buffer = PackBuffer(cfg.host_batch, cfg.seq_len, cfg.pad_id)
        self._last: tuple[int, int, np.ndarray] | None = None  # last document read (a split one's rest)
        self._reading: tuple[int, int] = (-1, -1)              # what a failing read was reading

    def _read(self, sid: int, index: int) -> np.ndarray:
        """Read through a one-document cache: a document split over k rows is read and decoded once,
        not k times (long documents dominated the loader's CPU time without it; benchmarks/loader.py)."""
        last = self._last
        if last is not None and last[0] == sid and last[1] == index:
            return last[2]
        self._reading = (sid, index)
        doc = self._sources[sid][index]          # TokenizedSource: checked ids; errors wrapped in __next__
        self._last = (sid, index, doc)
        return doc

    def _next_document(self):
        name, index = self._plan.next()
        sid = self._sid[name]
        to_global = self._global[sid]
        if to_global is not None:       # the plan counts this host's slice; reads and ids are global
            index = to_global(index)
        self._reading = (sid, index)
        doc = self._sources[sid][index]
        self._last = (sid, index, doc)
        return sid, index, doc

    def __next__(self) -> dict[str, np.ndarray]:
        fill_row, next_document, read = self._buffer.fill_row, self._next_document, self._read
        try:
            for r in range(self._buffer.rows):  # state advances row by row, as under Grain's .batch()
                _, self._carry = fill_row(r, next_document, read, self._carry)
                self._rows += 1
        except DataError:
            raise
        except Exception as e:  # corrupt record, missing shard: keep the reader's words, add the context
            sid, index = self._reading
            raise DataError(f"source {self._readers.names[sid]!r} document {index}: "
                            f"{type(e).__name__}: {e}") from e
        return self._buffer.arrays()

    def get_state(self) -> dict[str, Any]:
        carry = None if self._carry is None else [int(x) for x in self._carry]
        state = {"plan": self._plan.get_state(), "carry": carry, "rows": self._rows}  # plan state: fresh dicts
        if self._hosts > 1:
            state["slices"] = self._fingerprint
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        want = self._fingerprint if self._hosts > 1 else None
        if state.get("slices") != want:
            raise DataError(f"data state for shard slices {state.get('slices')!r}, this host reads {want!r} "
                            "(another host count, host, or changed manifests): the run cannot resume exactly")
        plan_state = copy.deepcopy(state["plan"])
        if "tokens" not in plan_state:   # saved before token feedback: its tokens follow from the counts
            plan_state["tokens"] = tokens_from_counts(self._plan, self._plan_mixture,
                                                      plan_state.get("counts") or {},
                                                      {k: np.asarray(v) for k, v in self._lengths.items()})
        self._plan.set_state(plan_state)
        self._carry = None if state["carry"] is None else tuple(int(x) for x in state["carry"])
        self._rows = int(state["rows"])
        self._last = None


class PackedBatchIterDataset(gp.IterDataset):
    """Grain IterDataset of packed host batches over a mixture (one per host)."""

    def __init__(self, mixture: dict, cfg: DataConfig, mixture_dir: str | None = None):
        super().__init__()
        self._mixture, self._cfg, self._dir = mixture, cfg, mixture_dir

    def __iter__(self):
        return _PackedBatchIterator(self._mixture, self._cfg, self._dir)


def make_train_iterator(mixture: dict, cfg: DataConfig, mixture_dir: str | None = None):
    """Grain iterator of host batches {key: [host_batch, seq_len]}; get_state()/set_state() restore exactly."""
    ds = PackedBatchIterDataset(mixture, cfg, mixture_dir)
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
