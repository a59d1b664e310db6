"""Exact and MinHash-LSH near deduplication as Beam transforms over pure functions.

Both transforms take a PCollection of `Document` and return a `DoOutputsTuple`
with `kept` (Documents) and `rejected` (`Rejected`, stage "dedup"). The kept
representative is always the smallest id, so reruns and runners agree.

Scope: by default duplicates are looked for within each source (a Markdown file
and a web page with the same text both stay); `across_sources=True` keys
without the source, so one copy survives over all sources.

Near dedup never collects to the driver and never forms all pairs:
  signature per doc -> (band key, id) -> GroupByKey per band -> star edges
  (every member -> the bucket's smallest id: n-1 edges for n members) ->
  optional check of each edge's estimated Jaccard -> connected components by
  min-label propagation, `max_rounds` unrolled GroupByKey rounds -> a doc whose
  component label is not its own id is a near duplicate of that label.
Counters (namespace "curate"): "dedup/candidate_edges", "dedup/edges_below_threshold",
"dedup/cc_changed_round_<k>" (labels that moved in round k; converged once 0) and
"dedup/cc_not_converged" (labels that still moved in the last round). If labels
still move after the last round, each set of docs sharing a label is still
connected, so nothing is wrongly merged: a component may keep more than one
doc, and a reason may name a doc that is itself a duplicate.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipelines.dedup import minhash
from pipelines.document import Document, Rejected
from pipelines.steps import NAMESPACE, REJECTED   # the same counters and side output as every check

STAGE = "dedup"
# Most documents per minhash.signatures call (BatchElements adapts below it; ~0.5 MiB of texts at 2 KiB/doc).
SIGNATURE_BATCH = 256


# ---------------------------------------------------------------- pure functions

def normalise_for_exact(text: str) -> str:
    """Strip and collapse every run of whitespace to one space: layout-only edits still match."""
    return " ".join(text.split())


def exact_key(doc: Document, across_sources: bool = False) -> str:
    """sha256 of the normalised text, prefixed by the source unless deduping across sources."""
    digest = hashlib.sha256(normalise_for_exact(doc.text).encode("utf-8", "surrogatepass")).hexdigest()
    return digest if across_sources else f"{doc.source}\x00{digest}"


def resolve_exact(docs: Iterable[Document]) -> tuple[Document, list[Rejected]]:
    """Keep the smallest (id, source, text); every other doc is an exact duplicate of it."""
    group = sorted(docs, key=lambda d: (d.id, d.source, d.text))
    kept = group[0]
    return kept, [d.reject(f"exact_duplicate: {kept.id}", STAGE) for d in group[1:]]


def star_edges(ids: Iterable[str]) -> list[tuple[str, str]]:
    """(member, smallest id) for every other member of one LSH bucket: linear, never all pairs."""
    members = sorted(set(ids))
    return [(m, members[0]) for m in members[1:]]


def band_entries(doc_id: str, scope: str, sig: np.ndarray, cfg: minhash.MinHashConfig) -> list[tuple[bytes, str]]:
    """(scoped band key, id) for each band; documents without shingles get none."""
    if not minhash.has_shingles(sig):
        return []
    prefix = scope.encode("utf-8") + b"\x00"
    return [(prefix + key, doc_id) for key in minhash.band_keys(sig, cfg)]


def propagate(node: str, values: Iterable[tuple]) -> tuple[str, str, tuple[str, ...], bool]:
    """One min-label step: the node takes the smallest of its label and its neighbours' labels.

    `values` holds one ("self", label, neighbours) and any number of ("msg", label).
    Returns (node, new label, neighbours, changed).
    """
    own, nbrs, best = None, (), None
    for v in values:
        if v[0] == "self":
            own, nbrs = v[1], v[2]
        if best is None or v[1] < best:
            best = v[1]
    if own is None:   # messages always go along edges of known nodes; guard anyway
        own = node
    return node, min(own, best), nbrs, best < own


# ---------------------------------------------------------------- exact dedup

class _ResolveExactFn(beam.DoFn):
    def process(self, element):
        _, docs = element
        kept, dups = resolve_exact(docs)
        yield kept
        for r in dups:
            Metrics.counter(NAMESPACE, f"{r.source}/exact_duplicates").inc()
            yield TaggedOutput(REJECTED, r)


class ExactDedup(beam.PTransform):
    """Drop documents whose normalised text hashes equal a document with a smaller id."""

    def __init__(self, across_sources: bool = False, label: str | None = None):
        super().__init__(label)
        self.across_sources = across_sources

    def expand(self, docs):
        across = self.across_sources
        return (docs
                | "Key by text hash" >> beam.Map(lambda d: (exact_key(d, across), d))
                | "Group equal texts" >> beam.GroupByKey()
                | "Keep smallest id" >> beam.ParDo(_ResolveExactFn()).with_outputs(REJECTED, main="kept"))


# ---------------------------------------------------------------- near dedup

class _SignatureFn(beam.DoFn):
    """Signs a batch of documents with one `minhash.signatures` call (numpy overhead per batch, not per doc)."""

    def __init__(self, cfg: minhash.MinHashConfig, across_sources: bool):
        self.cfg, self.across_sources = cfg, across_sources

    def process(self, batch: list[Document]) -> Iterator[tuple[str, tuple[str, np.ndarray]]]:
        sigs = minhash.signatures([doc.text for doc in batch], self.cfg)
        for doc, sig in zip(batch, sigs):
            yield doc.id, ("" if self.across_sources else doc.source, sig)


class _StarEdgesFn(beam.DoFn):
    def __init__(self):
        self.edges = Metrics.counter(NAMESPACE, "dedup/candidate_edges")

    def process(self, element):
        _, ids = element
        for edge in star_edges(ids):
            self.edges.inc()
            yield edge


class _JoinSourceSigFn(beam.DoFn):
    """Key each edge by its target, carrying the source's signature."""

    def process(self, element):
        u, grouped = element
        sigs = list(grouped["sig"])
        if not sigs:
            return
        for target in grouped["to"]:
            yield target, (u, sigs[0])


class _CheckEdgeFn(beam.DoFn):
    """Keep an edge only if the signatures' estimated Jaccard reaches the threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.dropped = Metrics.counter(NAMESPACE, "dedup/edges_below_threshold")

    def process(self, element):
        target, grouped = element
        sigs = list(grouped["sig"])
        if not sigs:
            return
        for u, sig_u in grouped["from"]:
            if minhash.estimate_jaccard(sig_u, sigs[0]) >= self.threshold:
                yield u, target
            else:
                self.dropped.inc()


class _PropagateFn(beam.DoFn):
    def __init__(self, round_index: int, last: bool):
        self.changed = Metrics.counter(NAMESPACE, f"dedup/cc_changed_round_{round_index}")
        self.not_converged = Metrics.counter(NAMESPACE, "dedup/cc_not_converged") if last else None

    def process(self, element):
        node, label, nbrs, changed = propagate(*element)
        if changed:
            self.changed.inc()
            if self.not_converged is not None:
                self.not_converged.inc()
        yield node, (label, nbrs)


def _messages(element):
    node, (label, nbrs) = element
    yield node, ("self", label, nbrs)
    for v in nbrs:
        yield v, ("msg", label)


class ConnectedComponents(beam.PTransform):
    """(u, v) edges -> (node, smallest id reachable within max_rounds hops of label passing)."""

    def __init__(self, max_rounds: int = 10, label: str | None = None):
        super().__init__(label)
        if max_rounds < 1:
            raise ValueError("max_rounds must be >= 1")
        self.max_rounds = max_rounds

    def expand(self, edges):
        state = (edges
                 | "Both directions" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
                 | "Adjacency" >> beam.GroupByKey()
                 | "Init labels" >> beam.Map(lambda kv: (kv[0], (kv[0], tuple(sorted(set(kv[1])))))))
        for k in range(1, self.max_rounds + 1):
            state = (state
                     | f"Send labels round {k}" >> beam.FlatMap(_messages)
                     | f"Gather labels round {k}" >> beam.GroupByKey()
                     | f"Min label round {k}" >> beam.ParDo(_PropagateFn(k, k == self.max_rounds)))
        return state | "Labels" >> beam.Map(lambda kv: (kv[0], kv[1][0]))


class _ResolveNearFn(beam.DoFn):
    def process(self, element):
        doc_id, grouped = element
        labels = list(grouped["label"])
        label = labels[0] if labels else doc_id
        docs = list(grouped["doc"])
        if len(docs) > 1:   # readers key documents by file + row: two here means a reader broke that
            Metrics.counter(NAMESPACE, "dedup/shared_document_ids").inc(len(docs))
        for doc in docs:
            if label < doc_id:
                Metrics.counter(NAMESPACE, f"{doc.source}/near_duplicates").inc()
                yield TaggedOutput(REJECTED, doc.reject(f"near_duplicate: {label}", STAGE))
            else:
                yield doc


class NearDedup(beam.PTransform):
    """MinHash-LSH near dedup: keep the smallest id of each connected component of candidates."""

    def __init__(self, cfg: minhash.MinHashConfig = minhash.MinHashConfig(), across_sources: bool = False,
                 max_rounds: int = 10, verify_edges: bool = True, label: str | None = None):
        super().__init__(label)
        bands, rows = cfg.band_rows   # resolved once here, not on every worker
        self.cfg = dataclasses.replace(cfg, bands=bands, rows=rows)
        self.across_sources = across_sources
        self.max_rounds, self.verify_edges = max_rounds, verify_edges

    def expand(self, docs):
        cfg = self.cfg
        sigs = (docs
                | "Batch for MinHash" >> beam.BatchElements(min_batch_size=1, max_batch_size=SIGNATURE_BATCH)
                | "MinHash signatures" >> beam.ParDo(_SignatureFn(cfg, self.across_sources)))
        edges = (sigs
                 | "Band keys" >> beam.FlatMap(lambda kv: band_entries(kv[0], kv[1][0], kv[1][1], cfg))
                 | "Group by band" >> beam.GroupByKey()
                 | "Star edges" >> beam.ParDo(_StarEdgesFn())
                 | "Distinct edges" >> beam.Distinct())
        if self.verify_edges:
            sig_by_id = sigs | "Signature by id" >> beam.Map(lambda kv: (kv[0], kv[1][1]))
            by_target = ({"sig": sig_by_id, "to": edges}
                         | "Join edge sources" >> beam.CoGroupByKey()
                         | "Key edges by target" >> beam.ParDo(_JoinSourceSigFn()))
            edges = ({"sig": sig_by_id, "from": by_target}
                     | "Join edge targets" >> beam.CoGroupByKey()
                     | "Check estimated Jaccard" >> beam.ParDo(_CheckEdgeFn(cfg.threshold)))
        labels = edges | "Connected components" >> ConnectedComponents(self.max_rounds)
        docs_by_id = docs | "Doc by id" >> beam.Map(lambda d: (d.id, d))
        return ({"doc": docs_by_id, "label": labels}
                | "Join labels" >> beam.CoGroupByKey()
                | "Keep component minimum" >> beam.ParDo(_ResolveNearFn()).with_outputs(REJECTED, main="kept"))
