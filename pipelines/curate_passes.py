"""Curate's two passes as Beam transforms: each text moves reader -> spill -> shard, never through a shuffle.

Pass 1 (`SignItems`, one DoFn call per work item: a file, a Parquet row group, or a bucket of Stack
Exchange threads): parse, count, run the family's steps (filter [, redact] [, verify], decontaminate) in input
order, stream the candidates and the rejects into the item's spills (pipelines/spill.py) and emit only
small records: the item's name, its exact and band fingerprint arrays (pipelines/decisions.py) and
user ids for the shared-id count. Dedup runs on those (pipelines/dedup/records.py).
Pass 2 (`ApplyDecisions`): per item, its losers (a CoGroupByKey of small records) are applied while
its spills stream into kept/<source>/ and rejected/<source>/ `part-NNNNN-of-MMMMM.parquet`, N the
item's rank among its family's items (sorted names: deterministic without a global sort), rows in
input order. Every file goes to a hidden temporary; `Publish` renames them only once every item
has been written, so a failing item publishes nothing.
"""
from __future__ import annotations

import collections
import functools
from collections.abc import Iterator, Mapping

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipelines import beam_files, decisions, spill
from tokens import paths
from pipelines.dedup import minhash
from pipelines.document import MAX_REJECTED_TEXT_CHARS, Document, Rejected, rejected_input
from pipelines.steps import NAMESPACE, REJECTED, is_error

SHARD_NAME = "part-%05d-of-%05d.parquet"
SIGN_BATCH = 256   # documents per minhash.signatures call
ITEMS, ARRAYS, USER_IDS = "items", "arrays", "user_ids"


# ---------------------------------------------------------------- per-document steps of pass 1 (run on workers)

def decontam_checks(cfg: "DecontamConfig", source: str):
    """[contamination check] for any source; the n-gram index is built once per worker process."""
    from pipelines.filters.decontaminate import cached_index, contamination_reason
    return [functools.partial(contamination_reason, index=cached_index(cfg))]


def filter_checks(cfg: "FilterConfig", chains: dict, source: str):
    """The filter chain the source's family declares (pipelines/sources/__init__.py); `chains` is taken from
    the registry when the pipeline is built, so workers need no registry of their own."""
    return chains[source](cfg)


# ---------------------------------------------------------------- small DoFns

class _CountInputFn(beam.DoFn):
    """Count every record a reader produced; split Documents from read-stage Rejected."""

    def __init__(self, family: str):
        from pipelines.sources import family_tags
        self.family, self.sources = family, family_tags(family)

    def process(self, record):
        if not isinstance(record, (Document, Rejected)) or record.source not in self.sources:
            got = getattr(record, "source", type(record).__name__)
            rec_id = getattr(record, "id", "unknown")
            record = Rejected(rec_id, self.sources[0], getattr(record, "text", "")[:1024],
                              {"unexpected_source": str(got)},
                              f"error: UnexpectedSource: {self.family} reader produced {got!r}", "read")
        size = len(record.text.encode("utf-8", "replace"))
        Metrics.counter(NAMESPACE, f"{record.source}/in").inc()
        Metrics.counter(NAMESPACE, f"{record.source}/in_bytes").inc(size)
        if isinstance(record, Document):
            yield record
            return
        key = "errors" if is_error(record) else f"rejected/{record.reason_key}"
        Metrics.counter(NAMESPACE, f"{record.source}/{key}").inc()
        yield TaggedOutput(REJECTED, record)


def _safe_row(record: Document | Rejected) -> dict:
    """Parquet row; text that is not valid UTF-8 (lone surrogates) is repaired, not a crash."""
    row = record.to_row()
    for key in ("text", "meta"):
        try:
            row[key].encode("utf-8")
        except UnicodeEncodeError:
            row[key] = row[key].encode("utf-8", "replace").decode("utf-8")
    return row


def _stages(chains: Mapping, verify, cfg) -> list:
    """A family's per-document steps, in order, as curate's DoFns (their counters and reasons): filter
    [-> redact] [-> verify] -> decontaminate; `chains` and `verify` come from the family registry
    (pipelines/sources/__init__.py), redaction from --pii (pipelines/redact)."""
    from pipelines.redact.step import _RedactFn
    from pipelines.steps import _ApplyChecksFn
    stages = [_ApplyChecksFn("filter", functools.partial(filter_checks, cfg.filters, dict(chains)))]
    if any(cfg.pii.applies_to(s) for s in chains):   # before verify, decontamination and dedup
        stages.append(_RedactFn(cfg.pii))
    if verify is not None:
        stages.append(_ApplyChecksFn("verify", functools.partial(verify, cfg.verify)))
    stages.append(_ApplyChecksFn("decontaminate", functools.partial(decontam_checks, cfg.decontam)))
    for stage in stages:
        stage.setup()
    return stages


class _SignItemFn(beam.DoFn):
    """Pass 1 of one work item; see the module docstring."""

    def __init__(self, family: str, root: str, output_root: str, cfg):
        from pipelines.sources import FAMILIES
        self.family, self.root, self.output_root, self.cfg = family, root, output_root, cfg
        entry = FAMILIES[family]   # taken when the pipeline is built: workers need no registry
        self.chains, self.verify, self.reader_source = dict(entry.chains), entry.verify, entry.reader.SOURCE
        self.grouped = entry.read_transform.partition(":")[0] if entry.read_transform else None
        bands, rows = cfg.minhash.band_rows   # resolved once here, not on every worker
        self.mh = __import__("dataclasses").replace(cfg.minhash, bands=bands, rows=rows)

    def setup(self):
        beam_files.configure_gcs_emulator()
        self.count = _CountInputFn(self.family)
        self.safe_row = _safe_row
        self.stages = _stages(self.chains, self.verify, self.cfg)

    def _records(self, item) -> Iterator[Document | Rejected]:
        from pipelines.sources import parse_file, relative_name
        if self.grouped:   # e.g. a bucket of Posts.xml row spans (pipelines/sources/stackexchange_read.py)
            import importlib
            yield from importlib.import_module(self.grouped).read_item(item, self.root, self.cfg.read_limits)
            return
        path, part = item
        try:
            yield from parse_file(self.family, path, self.cfg.read_limits, root=self.root, part=part,
                                  fields=self.cfg.fields.for_family(self.family))
        except Exception as e:  # noqa: BLE001 - the job must survive any one file (as read.ReadFamily)
            locator = "file" if part is None else f"part {part}"
            yield rejected_input(self.reader_source, relative_name(path, self.root), locator,
                                 f"error: {type(e).__name__}: {e}"[:1000])

    def _decide(self, record) -> Document | Rejected:
        for out in self.count.process(record):
            record = out.value if isinstance(out, TaggedOutput) else out
        if isinstance(record, Rejected):
            return record
        for stage in self.stages:
            for out in stage.process(record):
                record = out.value if isinstance(out, TaggedOutput) else out
            if isinstance(record, Rejected):
                return record
        return record

    def _key(self, item) -> str:
        from pipelines.sources import relative_name
        path, part = item[0] if self.grouped else item   # grouped: ((path, bucket), ...)
        return decisions.item_key(self.family, relative_name(path, self.root), part)

    def process(self, item):
        key = self._key(item)
        ref = decisions.item_ref(key)
        exact, bands, user_ids = [], [], collections.Counter()
        batch: list[tuple[str, str]] = []
        across = self.cfg.across_sources
        keys_out = None

        def sign() -> None:
            if batch:
                sigs = minhash.signatures([t for t, _ in batch], self.mh)
                scopes = [s for _, s in batch]
                bands.append(decisions.band_fingerprints(sigs, scopes, self.mh))
                digests = [decisions.exact_digest(s, t) for t, s in batch]
                exact.extend(decisions.exact_fingerprint(d) for d in digests)
                keys_out.write(b"".join(spill.key_row(d, sig) for d, sig in zip(digests, sigs)))
                batch.clear()

        def rows(keys_stream):
            nonlocal keys_out
            keys_out = keys_stream
            for ordinal, record in enumerate(self._records(item)):
                original = record.meta.get("original_id") if isinstance(record.meta, dict) else None
                if original not in (None, ""):
                    user_ids[(record.source, str(original))] += 1
                record = self._decide(record)
                row = self.safe_row(record)
                row["ordinal"] = ordinal
                if isinstance(record, Rejected):
                    yield "rej", row
                    continue
                batch.append((row["text"], decisions.scope_of(record.source, across)))
                yield "cand", row
                if len(batch) >= SIGN_BATCH:
                    sign()
            sign()

        count = spill.write_spills(self.output_root, ref, rows)
        yield TaggedOutput(ITEMS, (ref, (self.family, key)))
        exact_arr = np.asarray(exact, dtype=np.uint64)
        band_arr = (np.concatenate(bands) if bands
                    else np.zeros((0, self.mh.band_rows[0]), dtype=np.uint64))
        if count != len(exact_arr):
            raise RuntimeError(f"pass 1 {key!r}: {count} candidates spilled, {len(exact_arr)} signed")
        if count:
            yield TaggedOutput(ARRAYS, ("x", (ref, exact_arr.tobytes())))
            for b in range(band_arr.shape[1]):
                yield TaggedOutput(ARRAYS, (str(b), (ref, np.ascontiguousarray(band_arr[:, b]).tobytes())))
        for (source, original), n in sorted(user_ids.items()):
            yield TaggedOutput(USER_IDS, ((source, original), n))


class SignItems(beam.PTransform):
    """Work items of one family -> DoOutputsTuple(items, arrays, user_ids) (pass 1)."""

    def __init__(self, family: str, root: str, output_root: str, cfg, label: str | None = None):
        super().__init__(label)
        self.fn = _SignItemFn(family, root, output_root, cfg)

    def expand(self, items):
        return items | "Sign work items" >> beam.ParDo(self.fn).with_outputs(ITEMS, ARRAYS, USER_IDS, main="none")


class _ApplyFn(beam.DoFn):
    """Pass 2 of one item: (ref, {"item": [(family, key)], "losers": [packed [(pos, kind, reason)]]}) -> (tmp, final)."""

    def __init__(self, output_root: str, family_sources: Mapping[str, tuple[str, ...]]):
        self.output_root, self.family_sources = output_root, dict(family_sources)

    def setup(self):
        beam_files.configure_gcs_emulator()
        self._index_of: dict = {}

    def _rank(self, all_items, family: str, key: str) -> tuple[int, int]:
        cache_key = id(all_items)
        if cache_key not in self._index_of:
            by_family: dict[str, list[str]] = {}
            for fam, k in all_items:
                by_family.setdefault(fam, []).append(k)
            self._index_of = {cache_key: {f: {k: i for i, k in enumerate(sorted(set(ks)))}
                                          for f, ks in by_family.items()}}
        ranks = self._index_of[cache_key][family]
        return ranks[key], len(ranks)

    def process(self, element, all_items):
        ref, grouped = element
        infos = list(grouped["item"])
        if len(infos) != 1:
            raise RuntimeError(f"pass 2: work item {ref} seen {len(infos)} times (expected once)")
        family, key = infos[0]
        losers: dict[int, tuple[str, str]] = {}
        for pos, kind, reason in (loser for blob in grouped["losers"] for loser in decisions.unpack(blob)):
            if pos not in losers or (kind == decisions.EXACT and losers[pos][0] != decisions.EXACT):
                losers[pos] = (kind, reason)
        index, count = self._rank(all_items, family, key)
        _, _, kept_schema, rejected_schema = spill.schemas()
        finals = {}
        for source in self.family_sources[family]:
            name = SHARD_NAME % (index, count)
            finals[f"kept/{source}"] = (paths.join(self.output_root, "kept", source, name), kept_schema)
            finals[f"rejected/{source}"] = (paths.join(self.output_root, "rejected", source, name), rejected_schema)
        cand_path, rej_path = spill.spill_paths(self.output_root, ref)
        writers = spill.ShardWriters(finals)
        try:
            applied = 0
            for kind, row, dedup in decisions.apply(spill.read_rows(cand_path), spill.read_rows(rej_path), losers):
                source = row["source"]
                if kind == "kept":
                    Metrics.counter(NAMESPACE, f"{source}/kept").inc()
                    Metrics.counter(NAMESPACE, f"{source}/kept_bytes").inc(len(row["text"].encode("utf-8")))
                elif dedup is not None:
                    applied += 1
                    row["text"] = row["text"][:MAX_REJECTED_TEXT_CHARS]
                    counter = "exact_duplicates" if dedup == decisions.EXACT else "near_duplicates"
                    Metrics.counter(NAMESPACE, f"{source}/{counter}").inc()
                writers.add(f"{kind}/{source}", row)
            if applied != len(losers):
                raise RuntimeError(f"pass 2 {key!r}: {len(losers)} dedup decisions, {applied} applied")
            pairs = writers.close()
        except BaseException:
            writers.abort()
            raise
        yield from pairs


def _publish(pairs: list[tuple[str, str]]) -> list[str]:
    """Rename every temporary to its final shard name (after all items were written)."""
    import os

    from apache_beam.io.filesystems import FileSystems
    finals = []
    for tmp, final in sorted(pairs, key=lambda p: p[1]):
        if "://" in final:
            FileSystems.rename([tmp], [final])
        else:
            os.replace(tmp, final)
        finals.append(final)
    return finals


class ApplyDecisions(beam.PTransform):
    """{"item": (ref, (family, key)), "losers": (ref, packed [(pos, kind, reason)])} -> published shard paths."""

    def __init__(self, output_root: str, family_sources: Mapping[str, tuple[str, ...]], label: str | None = None):
        super().__init__(label)
        self.output_root, self.family_sources = output_root, dict(family_sources)

    def expand(self, inputs):
        items, losers = inputs["item"], inputs["losers"]
        names = items | "Item names" >> beam.Map(lambda kv: kv[1])
        written = ({"item": items, "losers": losers}
                   | "Decisions per item" >> beam.CoGroupByKey()
                   | "Write item shards" >> beam.ParDo(_ApplyFn(self.output_root, self.family_sources),
                                                       all_items=beam.pvalue.AsList(names)))
        return (written
                | "All shards written" >> beam.combiners.ToList()
                | "Publish shards" >> beam.FlatMap(_publish))
