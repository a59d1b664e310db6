"""Exact and near dedup over compact per-item fingerprint arrays (pipelines/decisions.py): no text shuffled.

Input: ("x", (ref, exact fingerprints)) and (band, (ref, band fingerprints)) elements, one per work item
and kind, the arrays as raw uint64 bytes indexed by candidate pos. Steps:
  group each kind (26 keys: exact + one per band) -> fingerprints equal across the corpus -> candidate
  groups, as (positions, group ids) arrays per item -> per item, the candidates' ids and exact digests
  read back from its spills -> members gathered per group -> full check:
  equal text digest (exact), or star edges to the smallest node (as NearDedup) whose estimated Jaccard
  reaches the threshold, both signatures read from the items' keys files (near) -> connected components
  over near edges: union-find in one worker (default) or label-propagation rounds
  (pipelines.dedup.transforms.ConnectedComponents, --components rounds).
Output: (ref, packed [(pos, kind, reason)]) for losing documents (decisions.pack); exact wins over near
in pass 2.
On a corpus without duplicates only the arrays (8 bytes per document and kind) cross a shuffle; on a
duplicate-heavy one, ids, group names and edges (node names), never a text or a signature.
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
# Near-duplicate components: "union-find" (exact, in one worker holding every near-duplicate node's
# name once: ~0.2 KB per node) or "rounds" (max_rounds unrolled GroupByKey rounds of min-label
# propagation over all workers, for graphs larger than one worker's memory; counter
# dedup/cc_not_converged when more rounds were needed). Both give the same components once converged.
UNION_FIND, ROUNDS = "union-find", "rounds"
COMPONENTS = (UNION_FIND, ROUNDS)
EDGE_BATCH = 4096   # candidate edges per signature lookup (their files opened once per batch)


def _group_id(kind: bytes, members: list[tuple[str, int]]) -> bytes:
    """A candidate group's 9-byte name: its kind (b"x" exact, b"n" near) and a hash of its members, so
    bands that make the same set of near candidates make one group."""
    return kind + hashlib.sha1(kind + repr(members).encode()).digest()[:8]


def _candidate_groups(element):
    """One kind's arrays -> (ref, (positions, group ids)) per item with members in a set of equal
    fingerprints: two arrays per item and kind, never a record per document."""
    key, parts = element
    arrays = [(ref, np.frombuffer(raw, dtype=np.uint64)) for ref, raw in parts]
    skip = None if key == EXACT_KEY else int(decisions.NO_BAND)
    kind = b"x" if key == EXACT_KEY else b"n"
    per_item: dict[str, tuple[list[int], list[bytes]]] = {}
    for members in decisions.colliding(arrays, skip=skip):
        gid = _group_id(kind, sorted(members))
        for ref, pos in members:
            positions, gids = per_item.setdefault(ref, ([], []))
            positions.append(pos)
            gids.append(gid)
    for ref in sorted(per_item):
        positions, gids = per_item[ref]
        yield ref, (np.asarray(positions, dtype=np.int64).tobytes(), b"".join(gids))


class _MembersFn(beam.DoFn):
    """(ref, [(positions, group ids)] of every kind) -> (group id, member) once per candidate and group:
    the members' ids from the item's candidate spill (id and source columns only), exact digests from
    its keys file. A group is keyed by its name and the members' scope (a fingerprint already covers the
scope: this only guards against a 64-bit collision across scopes); a member is (node, digest) in an
exact group, the node alone in a near one."""

    def __init__(self, output_root: str, cfg: minhash.MinHashConfig, across_sources: bool):
        self.output_root, self.cfg, self.across = output_root, cfg, across_sources

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, element):
        ref, parts = element
        pairs = set()
        for positions, gids in parts:
            pos = np.frombuffer(positions, dtype=np.int64)
            pairs.update(zip(pos.tolist(), (gids[i:i + 9] for i in range(0, len(gids), 9))))
        wanted = sorted({pos for pos, _ in pairs})
        cand_path, _ = spill.spill_paths(self.output_root, ref)
        rows = spill.read_positions(cand_path, wanted, ["id", "source"])
        missing = [pos for pos in wanted if pos not in rows]
        if missing:   # a spill lost a row: fail loudly, never decide blind
            raise RuntimeError(f"dedup: candidate {ref}/{missing[0]} not found in its spill")
        needs_digest = sorted({pos for pos, gid in pairs if gid[:1] == b"x"})
        keys = spill.read_keys(spill.keys_path(self.output_root, ref), needs_digest,
                               spill.key_row_bytes(self.cfg.num_perm))
        for pos, gid in sorted(pairs):
            row = rows[pos]
            node = decisions.node_name(row["id"], ref, pos)
            group = gid + decisions.scope_of(row["source"], self.across).encode("utf-8", "surrogatepass")
            yield group, ((node, spill.split_key_row(keys[pos])[0]) if gid[:1] == b"x" else node)


class _ResolveFn(beam.DoFn):
    """One candidate group -> exact losers (main output) or candidate star edges (tagged "edges")."""

    def __init__(self):
        self.edges = Metrics.counter(NAMESPACE, "dedup/candidate_edges")

    def process(self, element):
        gid, members = element
        if gid[:1] == b"x":
            losers: dict[str, list] = {}
            for node, reason in decisions.resolve_exact(list(members)):
                _, ref, pos = decisions.parse_node(node)
                losers.setdefault(ref, []).append((pos, decisions.EXACT, reason))
            for ref in sorted(losers):
                yield ref, decisions.pack(losers[ref])
            return
        edges = decisions.star_candidates(members)
        self.edges.inc(len(edges))
        for edge in edges:
            yield beam.pvalue.TaggedOutput("edges", edge)


class _CheckEdgesFn(beam.DoFn):
    """A batch of candidate edges -> those whose estimated Jaccard reaches the threshold, distinct and
    packed (decisions.pack) as one value. Both ends' signatures are read from their items' keys files
    (one seek per node), so no signature is shuffled."""

    def __init__(self, output_root: str, cfg: minhash.MinHashConfig, verify_edges: bool):
        self.output_root, self.cfg, self.verify = output_root, cfg, verify_edges
        self.below = Metrics.counter(NAMESPACE, "dedup/edges_below_threshold")

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, batch):
        yield decisions.pack(sorted(set(self._verified(batch))))

    def _verified(self, batch):
        if not self.verify:
            yield from batch
            return
        places = [tuple(decisions.parse_node(node)[1:] for node in edge) for edge in batch]   # (ref, pos) ends
        wanted: dict[str, set[int]] = {}
        for ends in places:
            for ref, pos in ends:
                wanted.setdefault(ref, set()).add(pos)
        row_bytes = spill.key_row_bytes(self.cfg.num_perm)
        sigs = {}
        for ref in sorted(wanted):
            for pos, row in spill.read_keys(spill.keys_path(self.output_root, ref), wanted[ref], row_bytes).items():
                sigs[ref, pos] = spill.split_key_row(row)[1]
        for (u, v), (end_u, end_v) in zip(batch, places):
            if minhash.estimate_jaccard(sigs[end_u], sigs[end_v]) >= self.cfg.threshold:
                yield u, v
            else:
                self.below.inc()


class _UnionFindFn(beam.DoFn):
    """(None, [packed batches of edges]) -> (ref, packed [(pos, NEAR, reason)]) for every node that is not
    its component's smallest: exact components by union-find (union by the smaller root, path halving),
    in one worker that holds each near-duplicate node's name once."""

    def __init__(self):
        self.components = Metrics.counter(NAMESPACE, "dedup/near_components")

    def process(self, element):
        _, batches = element
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while True:
                p = parent.get(x, x)
                if p == x:
                    return x
                gp = parent.get(p, p)
                parent[x] = gp
                x = gp

        for blob in batches:
            for u, v in decisions.unpack(blob):
                ru, rv = find(u), find(v)
                if ru != rv:
                    parent[max(ru, rv)] = min(ru, rv)
        roots, losers = 0, {}
        for node in sorted(parent):
            root = find(node)
            if root == node:
                roots += 1
            else:
                _, ref, pos = decisions.parse_node(node)
                losers.setdefault(ref, []).append((pos, decisions.NEAR, _near_reason(root)))
        self.components.inc(roots)
        for ref in sorted(losers):
            yield ref, decisions.pack(losers[ref])


def _near_reason(label: str) -> str:
    return f"near_duplicate: {decisions.parse_node(label)[0]}"


def _near_loser(element):
    """(node, label) of label propagation -> (ref, packed [(pos, NEAR, reason)]) when the label is smaller."""
    node, label = element
    if label < node:
        _, ref, pos = decisions.parse_node(node)
        yield ref, decisions.pack([(pos, decisions.NEAR, _near_reason(label))])


class DedupRecords(beam.PTransform):
    """Fingerprint arrays -> (ref, packed [(pos, kind, reason)]) losers; reads ids and keys from the spills."""

    def __init__(self, output_root: str, cfg: minhash.MinHashConfig, across_sources: bool, max_rounds: int,
                 verify_edges: bool, components: str = UNION_FIND, label: str | None = None):
        super().__init__(label)
        if components not in COMPONENTS:
            raise ValueError(f"components must be one of {COMPONENTS}, got {components!r}")
        self.output_root, self.cfg, self.across = output_root, cfg, across_sources
        self.max_rounds, self.verify_edges, self.components = max_rounds, verify_edges, components

    def expand(self, arrays):
        resolved = (arrays
                    | "Group fingerprints" >> beam.GroupByKey()
                    | "Candidate groups" >> beam.FlatMap(_candidate_groups)
                    | "Candidates per item" >> beam.GroupByKey()
                    | "Read candidates back" >> beam.ParDo(_MembersFn(self.output_root, self.cfg, self.across))
                    | "Gather groups" >> beam.GroupByKey()
                    | "Check groups" >> beam.ParDo(_ResolveFn()).with_outputs("edges", main="exact"))
        near = (resolved.edges
                | "Batch edges" >> beam.BatchElements(min_batch_size=64, max_batch_size=EDGE_BATCH)
                | "Check edges" >> beam.ParDo(_CheckEdgesFn(self.output_root, self.cfg, self.verify_edges)))
        if self.components == UNION_FIND:
            near = (near
                    | "One graph" >> beam.Map(lambda blob: (None, blob))
                    | "Gather graph" >> beam.GroupByKey()
                    | "Union-find" >> beam.ParDo(_UnionFindFn()))
        else:
            near = (near
                    | "Unpack edges" >> beam.FlatMap(decisions.unpack)
                    | "Distinct edges" >> beam.Distinct()
                    | "Connected components" >> ConnectedComponents(self.max_rounds)
                    | "Near losers" >> beam.FlatMap(_near_loser))
        return (resolved.exact, near) | "All losers" >> beam.Flatten()
