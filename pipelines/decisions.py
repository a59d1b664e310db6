"""Compact per-document dedup records and the decisions pass 2 applies (pure functions, no Beam).

Curate decides on keys and moves each text once. Pass 1 gives every dedup candidate of a work item a
place `pos` (its row in the item's candidate spill, pipelines/spill.py) and two fingerprints:
  - exact: the first 8 bytes of sha256(scope + "\\0" + whitespace-normalised text);
  - near: one 64-bit hash per LSH band of its MinHash signature (NO_BAND for a text without shingles).
A work item sends one array per fingerprint kind (8 bytes per document and kind/band), never a text.
Equal fingerprints only make *candidates*: the documents are then read back from the spill and
checked on their full keys (the exact text hash; the band's rows and the estimated Jaccard), so a
fingerprint collision never drops a document. Nodes of the near-duplicate graph are
"<id>\\0<item ref>\\0<pos>" strings: they sort by document id (the smallest id keeps, as before) and
two documents that share an id in different files stay two nodes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import numpy as np

from pipelines.dedup import minhash
from pipelines.dedup.transforms import normalise_for_exact

NO_BAND = np.uint64(0xFFFFFFFFFFFFFFFF)   # a document without shingles is no near-dup candidate
_MUL = np.uint64(0x9E3779B97F4A7C15)
EXACT, NEAR = "exact", "near"


def item_key(family: str, name: str, part) -> str:
    """A work item's stable name: family, file relative to ROOT, part (row group) or ''."""
    return f"{family}\x00{name}\x00{'' if part is None else part}"


def item_ref(key: str) -> str:
    """16 hex characters naming a work item in records and spill files."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def scope_of(source: str, across_sources: bool) -> str:
    return "" if across_sources else source


def exact_digest(scope: str, text: str) -> bytes:
    """Full exact-dedup key: sha256 of scope + normalised text."""
    return hashlib.sha256(scope.encode("utf-8", "surrogatepass") + b"\x00"
                          + normalise_for_exact(text).encode("utf-8", "surrogatepass")).digest()


def exact_fingerprint(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big")


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def band_fingerprints(sigs: np.ndarray, scopes: list[str], cfg: minhash.MinHashConfig) -> np.ndarray:
    """[documents, bands] uint64: a hash of each band's rows and the document's scope; NO_BAND rows
    for documents without shingles. Equal bands always give equal fingerprints."""
    bands, rows = cfg.band_rows
    seeds = np.array([int.from_bytes(hashlib.sha256(s.encode("utf-8", "surrogatepass")).digest()[:8], "big")
                      for s in scopes], dtype=np.uint64)
    out = np.empty((len(sigs), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = _mix(seeds ^ np.uint64(b + 1))
            for j in range(b * rows, (b + 1) * rows):
                h = _mix((h ^ sigs[:, j]) * _MUL)
            out[:, b] = h
    out[out == NO_BAND] = NO_BAND - np.uint64(1)
    empty = ~(sigs != np.uint64(0xFFFFFFFFFFFFFFFF)).any(axis=1) if len(sigs) else np.zeros(0, bool)
    out[empty] = NO_BAND
    return out


def colliding(parts: Iterable[tuple[str, np.ndarray]], skip: int | None = None) -> Iterator[list[tuple[str, int]]]:
    """[(ref, fingerprints by pos)] of every item -> lists of (ref, pos) sharing a fingerprint (>= 2)."""
    refs, values, positions, owners = [], [], [], []
    for i, (ref, arr) in enumerate(sorted(parts, key=lambda p: p[0])):
        arr = np.asarray(arr, dtype=np.uint64)
        refs.append(ref)
        values.append(arr)
        positions.append(np.arange(len(arr), dtype=np.int64))
        owners.append(np.full(len(arr), i, dtype=np.int64))
    if not values:
        return
    v, pos, own = np.concatenate(values), np.concatenate(positions), np.concatenate(owners)
    if skip is not None:
        keep = v != np.uint64(skip)
        v, pos, own = v[keep], pos[keep], own[keep]
    order = np.argsort(v, kind="stable")
    v, pos, own = v[order], pos[order], own[order]
    if len(v) < 2:
        return
    same = v[1:] == v[:-1]
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    ends = np.concatenate((starts[1:], [len(v)]))
    for s, e in zip(starts, ends):
        if e - s >= 2:
            yield [(refs[own[k]], int(pos[k])) for k in range(s, e)]


def node_name(doc_id: str, ref: str, pos: int) -> str:
    return f"{doc_id}\x00{ref}\x00{pos:010d}"


def parse_node(node: str) -> tuple[str, str, int]:
    doc_id, ref, pos = node.rsplit("\x00", 2)
    return doc_id, ref, int(pos)


def resolve_exact(members: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """[(node, full digest)] sharing an exact fingerprint -> [(loser node, reason)]: within each equal
    digest the smallest node (smallest id) keeps."""
    by_digest: dict[bytes, list[str]] = {}
    for node, digest in members:
        by_digest.setdefault(digest, []).append(node)
    losers = []
    for nodes in by_digest.values():
        nodes = sorted(set(nodes))
        keep_id = parse_node(nodes[0])[0]
        losers += [(n, f"exact_duplicate: {keep_id}") for n in nodes[1:]]
    return losers


def star_candidates(nodes: Iterable[str]) -> list[tuple[str, str]]:
    """Nodes sharing a band fingerprint of one scope (64 bits over the band's rows and the scope: a false
    match has probability 2^-64 per pair) -> candidate star edges (member -> smallest node), as
    pipelines.dedup.transforms.NearDedup forms them per LSH bucket; linear, never all pairs. The caller
    checks each edge's estimated Jaccard on the two signatures (pipelines/dedup/records.py)."""
    members = sorted(set(nodes))
    return [(node, members[0]) for node in members[1:]]


def pack(records: list) -> bytes:
    """Many small records as one bytes value: the DirectRunner holds a shuffle's values as Python objects
    (~0.3 KB per tuple of strings), one bytes value costs its length."""
    import pickle
    return pickle.dumps(records, protocol=4)


def unpack(blob: bytes) -> list:
    """pack()'s records (written by this job's own workers, never read from input files)."""
    import pickle
    return pickle.loads(blob)


def apply(candidates: Iterable[dict], rejects: Iterable[dict],
          losers: dict[int, tuple[str, str]]) -> Iterator[tuple[str, dict, str | None]]:
    """Merge an item's candidate rows and pass-1 rejects by ordinal (input order) and apply its losers.

    Yields ("kept" | "rejected", row without ordinal, dedup kind or None); `losers` maps a candidate
    pos to (kind, reason), exact taking precedence over near (the caller resolves that)."""
    import heapq
    cands = ((row["ordinal"], 0, pos, row) for pos, row in enumerate(candidates))
    rejs = ((row["ordinal"], 1, -1, row) for row in rejects)
    for _, which, pos, row in heapq.merge(cands, rejs, key=lambda t: (t[0], t[1])):
        row = {k: v for k, v in row.items() if k != "ordinal"}
        if which == 1:
            yield "rejected", row, None
        elif pos in losers:
            kind, reason = losers[pos]
            yield "rejected", {**row, "reason": reason, "stage": "dedup"}, kind
        else:
            yield "kept", row, None
