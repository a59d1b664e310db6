"""Which documents each host reads: a disjoint slice of every source's shards.

Every host runs the same token-feedback SamplingPlan, but over its own slice, so each host's stream
holds the mixture's token shares and so does the global batch (hosts contribute equal rows per step);
a host opens and caches about 1/num_hosts of the data. Choices (docs/decisions.md):
  * whole shards when a source has at least as many (training) shards as hosts, balanced by tokens
    (largest first onto the lightest host; ties by index), so every host's share of a source is close;
  * fewer shards than hosts: contiguous document ranges of equal size (a shard may serve two hosts);
  * fewer documents than hosts: every host reads the whole source (tiny sources only; not disjoint).
One host keeps the whole index space and the mixture's seed, so a single-host stream is unchanged.
"""
from __future__ import annotations

import bisect
import copy
import dataclasses
import hashlib
import json

import numpy as np


@dataclasses.dataclass(frozen=True)
class HostSlice:
    """One source's documents on one host: pieces (shard, first, end) of shard-local record indices."""
    source: str
    mode: str                                   # "all" | "shards" | "documents" | "replicated"
    pieces: tuple[tuple[int, int, int], ...]
    global_starts: tuple[int, ...]              # global document index of each piece's first record
    local_starts: tuple[int, ...]               # this slice's index of each piece's first record
    documents: int

    @property
    def shards(self) -> tuple[int, ...]:
        return tuple(sorted({shard for shard, _, _ in self.pieces}))

    def global_index(self, j: int) -> int:
        """The source's document index of this slice's document j."""
        if self.mode == "all" or self.mode == "replicated":
            return j
        p = bisect.bisect_right(self.local_starts, j) - 1
        return self.global_starts[p] + j - self.local_starts[p]


def _pieces(offsets: list[int], first: int, end: int) -> list[tuple[int, int, int]]:
    """Global document range [first, end) cut at shard boundaries."""
    out = []
    shard = bisect.bisect_right(offsets, first) - 1
    while first < end:
        stop = min(end, offsets[shard + 1])
        if stop > first:
            out.append((shard, first - offsets[shard], stop - offsets[shard]))
        first, shard = stop, shard + 1
    return out


def assign(source: str, shard_documents: list[int], shard_tokens: list[int], documents: int,
           host: int, hosts: int) -> HostSlice:
    """Host `host`'s slice of the first `documents` documents (the training index space) of a source."""
    if not 0 <= host < hosts:
        raise ValueError(f"host {host} outside [0, {hosts})")
    offsets = np.cumsum([0] + list(shard_documents)).tolist()
    documents = min(documents, offsets[-1])
    if hosts == 1 or documents < hosts:
        mode, ranges = ("all" if hosts == 1 else "replicated"), [(0, documents)]
    else:
        eligible = [s for s in range(len(shard_documents)) if offsets[s] < documents and shard_documents[s]]
        if len(eligible) >= hosts:
            mode, load, mine = "shards", [0.0] * hosts, []
            weight = {s: shard_tokens[s] * (min(offsets[s + 1], documents) - offsets[s]) / shard_documents[s]
                      for s in eligible}
            for s in sorted(eligible, key=lambda s: (-weight[s], s)):
                target = min(range(hosts), key=lambda h: (load[h], h))
                load[target] += weight[s]
                if target == host:
                    mine.append(s)
            ranges = [(offsets[s], min(offsets[s + 1], documents)) for s in sorted(mine)]
        else:
            mode = "documents"
            ranges = [(host * documents // hosts, (host + 1) * documents // hosts)]
    pieces = [p for first, end in ranges for p in _pieces(offsets, first, end)]
    global_starts, local_starts, count = [], [], 0
    for shard, first, end in pieces:
        global_starts.append(offsets[shard] + first)
        local_starts.append(count)
        count += end - first
    return HostSlice(source, mode, tuple(pieces), tuple(global_starts), tuple(local_starts), count)


def host_seed(seed: int, host: int, hosts: int) -> int:
    """The plan seed of one host: the mixture's seed on a single host, else one derived per host (so hosts
    with equally sized slices do not walk their permutations in step)."""
    if hosts == 1:
        return seed
    digest = hashlib.blake2b(f"{seed}\x00{host}\x00{hosts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def fingerprint(slices: dict[str, HostSlice], host: int, hosts: int) -> str:
    """Short hash of a host's slices: a checkpoint restores only onto the same host of the same layout."""
    body = {"host": host, "hosts": hosts,
            "slices": {name: [s.mode, [list(p) for p in s.pieces]] for name, s in sorted(slices.items())}}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class HostData:
    """What one host's loader samples: its slices, their document lengths and the plan mixture over them."""
    slices: dict[str, HostSlice]
    lengths: dict[str, memoryview]       # uint32 per sampled source, by the slice's own document index
    mixture: dict                        # the plan mixture: documents / available_tokens of the slices
    seed: int
    fingerprint: str


def host_data(plan_mixture: dict, readers, seed: int | None, host: int, hosts: int) -> HostData:
    """Slices of every source with a positive weight, their shards checked (readers.check) and their lengths
    loaded from the sidecars of those shards only. `plan_mixture` is the training mixture (held-out removed);
    `readers` a trainer.data.SourceReaders over the same sources."""
    mixture = copy.deepcopy(plan_mixture)
    slices, lengths = {}, {}
    for sid, name in enumerate(readers.names):
        spec = mixture["sources"][name]
        if float(spec["weight"]) <= 0:
            continue
        manifest = readers.source(sid).manifest
        documents = int(spec["documents"])
        if documents > manifest.documents:
            raise ValueError(f"source {name!r}: the mixture says {documents} documents, its manifest "
                             f"{manifest.documents}")
        piece = assign(name, [s.documents for s in manifest.shards], [s.tokens for s in manifest.shards],
                       documents, host, hosts)
        readers.check(sid, piece.shards)
        if piece.mode in ("all", "replicated"):
            values = readers.lengths(sid)
        else:
            values = np.concatenate([readers.shard_lengths(sid, shard)[first:end]
                                     for shard, first, end in piece.pieces])
        slices[name], lengths[name] = piece, memoryview(np.ascontiguousarray(values, np.uint32))   # int per item
        if piece.mode != "all":
            spec["documents"] = piece.documents
            spec["available_tokens"] = int(np.asarray(values[:piece.documents]).sum(dtype=np.int64))
    base = int(plan_mixture.get("seed", 0)) if seed is None else seed   # None: the mixture's own seed
    return HostData(slices, lengths, mixture, host_seed(base, host, hosts), fingerprint(slices, host, hosts))
