"""Lengths sidecars: the token count of every record of a shard, without reading the records.

`part-NNNNN-of-MMMMM.lengths` lies next to `part-NNNNN-of-MMMMM.array_record` and holds one
little-endian uint32 per record, in record order (4 bytes per document; counts include the
EOS). The tokenize job writes it with the shard (same temporary + rename path) and names it
in the manifest's shard entry ("lengths"). Why: the trainer's SamplingPlan balances sources
by realised tokens and evaluates a document length for every pick of the global stream on
every host; a 4-byte-per-document index makes that a numpy lookup instead of a record read.

No Beam and no I/O imports: the mixer, the trainer and tokens.records load it cheaply.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from tokens.manifest import ManifestError

SUFFIX = ".lengths"
SHARD_SUFFIX = ".array_record"
NAME_RE = re.compile(r"^(?:part|heldout)-(\d{5})-of-(\d{5})\.lengths$")
DTYPE = np.dtype("<u4")


def sidecar_name(shard: str) -> str:
    """The sidecar of a shard name or path: part-NNNNN-of-MMMMM.lengths."""
    if not shard.endswith(SHARD_SUFFIX):
        raise ValueError(f"{shard!r} is not an {SHARD_SUFFIX} shard")
    return shard[:-len(SHARD_SUFFIX)] + SUFFIX


def encode(lengths: Sequence[int]) -> bytes:
    """Sidecar bytes for per-record token counts (each in [1, 2**32)); deterministic."""
    values = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if values.size and (int(values.min()) < 1 or int(values.max()) >= 1 << 32):
        raise ValueError(f"document lengths must be in [1, 2**32): got {int(values.min())}..{int(values.max())}")
    return values.astype(DTYPE).tobytes()


def decode(data: bytes, where: str) -> np.ndarray:
    """uint32 token counts (native byte order) from sidecar bytes; ManifestError naming `where` if truncated."""
    if len(data) % DTYPE.itemsize:
        raise ManifestError(f"{where}: {len(data)} bytes is not a whole number of uint32 lengths (truncated?)")
    return np.frombuffer(data, dtype=DTYPE).astype(np.uint32)


def check(values: np.ndarray, where: str, documents: int, tokens: int) -> np.ndarray:
    """The lengths of one shard must agree with its manifest entry: one per document, summing to its tokens."""
    if values.size != documents:
        raise ManifestError(f"{where}: {values.size} document lengths, manifest says {documents} documents")
    total = int(values.sum(dtype=np.int64))
    if total != tokens:
        raise ManifestError(f"{where}: document lengths sum to {total} tokens, manifest says {tokens}")
    if values.size and int(values.min()) == 0:
        raise ManifestError(f"{where}: a document of 0 tokens (documents end with EOS)")
    return values
