"""Exact and near dedup over compact per-item fingerprint arrays (pipelines/decisions.py): no text shuffled.

Input: ("x", (ref, exact fingerprints)) and (band, (ref, band fingerprints)) elements, one per work item
and kind, the arrays as raw uint64 bytes indexed by candidate pos. Steps:
  group each kind (26 keys: exact + one per band) -> fingerprints equal across the corpus -> candidate
  groups -> the candidates' rows read back from their items' spills (only those rows' row groups) ->
  full check: equal text digest (exact) or equal band rows + estimated Jaccard (near, star edges to the
  smallest node as NearDedup) -> connected components (pipelines.dedup.transforms) over near edges.
Output: (ref, (pos, kind, reason)) for every losing document; exact wins over near in pass 2.
On a corpus without duplicates only the arrays (8 bytes per document and kind) cross a shuffle.
"""
from __future__ import annotations

import hashlib

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipelines import beam_files, decisions, spill
from pipelines.dedup import minhash
from pipelines.dedup.transforms import ConnectedComponents
from pipelines.steps import NAMESPACE

EXACT_KEY = "x"


def _candidate_groups(element):
    """One kind's arrays -> ((ref, pos), group id) per member of each set of equal fingerprints. A near
    group is named by its members, so bands that make the same set make one group."""
    key, parts = element
    arrays = [(ref, np.frombuffer(raw, dtype=np.uint64)) for ref, raw in parts]
    skip = None if key == EXACT_KEY else int(decisions.NO_BAND)
    for members in decisions.colliding(arrays, skip=skip):
        if key == EXACT_KEY:
            gid = f"{EXACT_KEY}\x00{members[0][0]}\x00{members[0][1]}"
        else:
            gid = "n\x00" + hashlib.sha1(repr(sorted(members)).encode()).hexdigest()
        for ref, pos in members:
            yield (ref, pos), gid


class _FetchFn(beam.DoFn):
    """(ref, [pos]) -> ((ref, pos), (id, scope, exact digest, signature)) read from the item's spill."""

    def __init__(self, output_root: str, cfg: minhash.MinHashConfig, across_sources: bool):
        self.output_root, self.cfg, self.across = output_root, cfg, across_sources

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, element):
        ref, positions = element
        cand_path, _ = spill.spill_paths(self.output_root, ref)
        rows = spill.read_positions(cand_path, positions, ["id", "source", "text"])
        order = sorted(rows)
        sigs = minhash.signatures([rows[p]["text"] for p in order], self.cfg) if order else []
        for pos, sig in zip(order, sigs):
            row = rows[pos]
            scope = decisions.scope_of(row["source"], self.across)
            yield (ref, pos), (row["id"], scope, decisions.exact_digest(scope, row["text"]),
                               decisions.transport_signature(sig))


def _by_group(element):
    (ref, pos), grouped = element
    infos = list(grouped["info"])
    if not infos:   # a spill lost a row: fail loudly, never decide blind
        raise RuntimeError(f"dedup: candidate {ref}/{pos} not found in its spill")
    doc_id, scope, digest, sig = infos[0]
    node = decisions.node_name(doc_id, ref, pos)
    for gid in sorted(set(grouped["gid"])):   # exact groups need the digest, near groups the signature
        yield gid, ((node, scope, digest) if gid.startswith(EXACT_KEY) else (node, scope, sig))


class _ResolveFn(beam.DoFn):
    """One candidate group -> exact losers (main output) or near edges (tagged "edges")."""

    def __init__(self, cfg: minhash.MinHashConfig, verify_edges: bool):
        self.cfg, self.verify = cfg, verify_edges
        self.edges = Metrics.counter(NAMESPACE, "dedup/candidate_edges")
        self.below = Metrics.counter(NAMESPACE, "dedup/edges_below_threshold")

    def process(self, element):
        gid, members = element
        kind = gid.split("\x00", 1)[0]
        members = list(members)
        if kind == EXACT_KEY:
            for node, reason in decisions.resolve_exact([(n, d) for n, _, d in members]):
                _, ref, pos = decisions.parse_node(node)
                yield ref, (pos, decisions.EXACT, reason)
            return
        sigs = [(n, scope, np.frombuffer(s, dtype=np.uint32)) for n, scope, s in members]
        edges, candidates, below = decisions.near_edges(sigs, self.cfg, self.verify)
        self.edges.inc(candidates)
        self.below.inc(below)
        for edge in edges:
            yield beam.pvalue.TaggedOutput("edges", edge)


def _near_loser(element):
    node, label = element
    if label < node:
        _, ref, pos = decisions.parse_node(node)
        yield ref, (pos, decisions.NEAR, f"near_duplicate: {decisions.parse_node(label)[0]}")


class DedupRecords(beam.PTransform):
    """Fingerprint arrays -> (ref, (pos, kind, reason)) losers; reads candidate rows from the spills."""

    def __init__(self, output_root: str, cfg: minhash.MinHashConfig, across_sources: bool, max_rounds: int,
                 verify_edges: bool, label: str | None = None):
        super().__init__(label)
        self.output_root, self.cfg, self.across = output_root, cfg, across_sources
        self.max_rounds, self.verify_edges = max_rounds, verify_edges

    def expand(self, arrays):
        membership = (arrays
                      | "Group fingerprints" >> beam.GroupByKey()
                      | "Candidate groups" >> beam.FlatMap(_candidate_groups))
        info = (membership
                | "Candidate places" >> beam.Map(lambda kv: kv[0])
                | "Candidates per item" >> beam.GroupByKey()
                | "Read candidates back" >> beam.ParDo(_FetchFn(self.output_root, self.cfg, self.across)))
        resolved = ({"gid": membership, "info": info}
                    | "Join candidates" >> beam.CoGroupByKey()
                    | "Key by group" >> beam.FlatMap(_by_group)
                    | "Gather groups" >> beam.GroupByKey()
                    | "Check groups" >> beam.ParDo(_ResolveFn(self.cfg, self.verify_edges)).with_outputs(
                        "edges", main="exact"))
        near = (resolved.edges
                | "Distinct edges" >> beam.Distinct()
                | "Connected components" >> ConnectedComponents(self.max_rounds)
                | "Near losers" >> beam.FlatMap(_near_loser))
        return (resolved.exact, near) | "All losers" >> beam.Flatten()
