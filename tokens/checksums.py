"""CRC32C of stored files (token shards, lengths sidecars), as the manifest records them.

Why CRC32C and not SHA-256: the manifest is not signed, so whoever can change a shard can
change its manifest too; a checksum here guards against accidents (bit rot, a truncated copy,
a shard rewritten by another run, a sidecar edited by hand), which a 32-bit CRC detects as well
as a cryptographic hash, at 5.2x the speed of SHA-256 (benchmarks/checksums.py; google-crc32c
uses the CPU's CRC32C instruction and google-cloud-storage already installs it). It is also the checksum GCS keeps for
every object. The tokenizer's identity stays SHA-256 (manifest "tokenizer.sha256").

Written as 8 lowercase hex digits (big-endian), e.g. "e3069283" for b"123456789".
"""
from __future__ import annotations

from typing import BinaryIO, NamedTuple

import google_crc32c

CHUNK = 16 << 20


class Digest(NamedTuple):
    size: int      # bytes
    crc32c: str    # 8 hex digits


class Running:
    """Size and CRC32C of bytes seen so far (for data that streams through anyway)."""

    def __init__(self):
        self._crc, self._size = google_crc32c.Checksum(), 0

    def update(self, chunk: bytes) -> None:
        self._crc.update(chunk)
        self._size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self._size, self._crc.hexdigest().decode("ascii"))


def of_bytes(data: bytes) -> Digest:
    return Digest(len(data), google_crc32c.Checksum(data).hexdigest().decode("ascii"))


def of_stream(stream: BinaryIO) -> Digest:
    """Size and CRC32C of everything left in a binary stream, read in 16 MiB chunks (a gs:// object:
    `of_stream(tokens.paths.open_read(path))`; this module imports no file API, so tokens.paths can use it)."""
    running = Running()
    while chunk := stream.read(CHUNK):
        running.update(chunk)
    return running.digest()


def of_file(path: str) -> Digest:
    """Size and CRC32C of a local file (the publish temporary, a cached shard)."""
    with open(path, "rb") as f:
        return of_stream(f)


def mismatch(where: str, what: str, have: Digest, size: int | None, crc32c: str | None) -> str | None:
    """A sentence naming the file when `have` differs from the recorded size/CRC32C, else None."""
    if size is not None and have.size != size:
        return f"{where}: {what} is {have.size} bytes, the manifest says {size} (changed or truncated after tokenize)"
    if crc32c is not None and have.crc32c != crc32c:
        return f"{where}: {what} has crc32c {have.crc32c}, the manifest says {crc32c} (changed after tokenize)"
    return None
