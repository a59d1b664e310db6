"""Token shards on disk: names, the held-out key, shard counts, atomic ArrayRecord writes, stats.

No Beam import: the tokenize job calls these from its DoFns, tests and tools call
them directly. The job places documents in input order (pipelines/tokenize_passes.py),
so the same curated input always yields the same shard bytes, on any runner and any rerun.

Next to each shard `part-NNNNN-of-MMMMM.array_record` lies its lengths sidecar
`part-NNNNN-of-MMMMM.lengths` (tokens.lengths: one little-endian uint32 token count
per record, record order), written right after the shard the same atomic way.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from tokens import lengths, paths

WRITER_OPTIONS = "group_size:1"   # one record per chunk: O(1) random access (contract)
SHARD_RE = re.compile(r"^(?:part|heldout)-(\d{5})-of-(\d{5})\.array_record$")
HELDOUT_PREFIX = "heldout"   # held-out shards: heldout-NNNNN-of-MMMMM.array_record, listed apart in the manifest
TEMP_PREFIX = ".tmp-"             # temporaries live next to the shards, hidden, removed on rerun


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.array_record"


def heldout_name(index: int, count: int) -> str:
    return f"{HELDOUT_PREFIX}-{index:05d}-of-{count:05d}.array_record"


def heldout_key(doc_id: str) -> int:
    """64-bit hash deciding held-out membership (its own domain: independent of shard and order)."""
    return int.from_bytes(hashlib.sha256(b"heldout\x00" + doc_id.encode("utf-8")).digest()[:8], "big")


def lengths_name(shard: str) -> str:
    """The lengths sidecar of a shard name or path (format: tokens.lengths)."""
    return lengths.sidecar_name(shard)


def shard_count(tokens: int, target_shard_tokens: int, fixed: int = 0) -> int:
    """`fixed` if given, else enough shards that each holds about `target_shard_tokens`."""
    if fixed > 0:
        return fixed
    return max(1, math.ceil(tokens / max(1, target_shard_tokens)))


@dataclasses.dataclass(frozen=True)
class WrittenShard:
    records: int
    bytes: int       # size of the published shard
    crc32c: str      # its CRC32C (tokens.checksums), recorded in the manifest


def write_shard(path: str, records: Iterable[bytes]) -> WrittenShard:
    """Write an ArrayRecord shard atomically; returns its record count, size and CRC32C.

    Local: written under a hidden temporary name in the same directory, then renamed.
    gs://: written to a local temporary file, then streamed to the final object name
    (a GCS object becomes visible only when its upload completes, so readers never
    see half a shard).
    """
    from array_record.python.array_record_module import ArrayRecordWriter

    count = 0

    def write(tmp: str) -> None:
        nonlocal count
        writer = ArrayRecordWriter(tmp, WRITER_OPTIONS)
        try:
            for record in records:
                writer.write(record)
                count += 1
            writer.close()
        except RuntimeError as e:   # riegeli's status ("write() failed: No space left on device; ..."): an I/O
            raise OSError(str(e)) from e   # error, re-raised by paths.publish naming the shard, not the temporary

    digest = paths.publish(path, write)
    return WrittenShard(count, digest.size, digest.crc32c)


def write_lengths(shard_path: str, doc_lengths: Sequence[int]) -> str:
    """Write the lengths sidecar of `shard_path` (tokens per record, record order) the same atomic way as the
    shard; returns its path. Written after the shard and before the manifest."""
    data = lengths.encode(doc_lengths)
    path = lengths_name(shard_path)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    paths.publish(path, write)
    return path


def stale_files(directory: str, keep: Iterable[str], listed: Iterable[str] | None = None) -> list[str]:
    """Temporaries, shards and lengths sidecars of other runs (other shard counts) in a source directory.

    `keep`: the shard names of this run; their sidecars are kept with them. `listed`: the directory's
    names as listed before the job wrote anything (default: list it now); a file that appeared since
    (another job's) is then never a candidate, so a job deletes only what an earlier run of it left."""
    keep = set(keep)
    keep |= {lengths_name(name) for name in keep if name.endswith(lengths.SHARD_SUFFIX)}
    out = []
    names = paths.list_dir(directory) if listed is None else sorted(listed)
    for name in names:   # a literal listing: no glob expansion of `directory`
        ours = SHARD_RE.match(name) or lengths.NAME_RE.match(name)
        if name.startswith(TEMP_PREFIX) or (ours and name not in keep):
            out.append(paths.join(directory, name))
    return sorted(out)


def length_histogram(length_counts: Mapping[int, int]) -> dict[str, int]:
    """min / median / p99 / max tokens per document (nearest-rank), from length -> count."""
    total = sum(length_counts.values())
    if total == 0:
        return {"min": 0, "median": 0, "p99": 0, "max": 0}
    lengths = sorted(length_counts)

    def rank(q: float) -> int:
        target, seen = max(1, math.ceil(q * total)), 0
        for length in lengths:
            seen += length_counts[length]
            if seen >= target:
                return length
        return lengths[-1]

    return {"min": lengths[0], "median": rank(0.5), "p99": rank(0.99), "max": lengths[-1]}


def config_hash(config: Mapping) -> str:
    """sha256 of the canonical JSON of the tokenize settings (tokenizer sha included by caller)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, allow_nan=False).encode()).hexdigest()
