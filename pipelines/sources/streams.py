"""Decompressing readers that keep every byte decoded before a truncation or a corrupt block.

`gzip.GzipFile.read(n)` raises on a damaged stream and drops everything it decoded in that call (up
to the 1 MiB a reader asks for); zstandard's `stream_reader` ends quietly at a truncated frame, so a
file cut at 60% reads as a shorter, valid file. These readers hand out all the output decoded before
the damage, then raise ReadError("truncated_stream: ...") on the next read, naming the codec, where
the damage is and how much was read, so the reader keeps every complete line and the file gets one
reject that says lines were lost.

gzip: members are decoded with zlib in 64 KiB input steps; when a step fails, it is replayed byte by
byte from a copy of the decoder state taken before it, so the output stops exactly at the bad byte.
zstd: frames are walked block by block (RFC 8878 block headers) and each block is fed on its own, so a
corrupt block costs its own output only; a frame whose input ends early is a truncation.
"""
from __future__ import annotations

import io
import zlib
from typing import BinaryIO


class ReadError(Exception):
    """The whole file cannot be read further; `reason` becomes one Rejected for the file."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


STEP = 64 << 10
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Source:
    """Exact-size reads from the compressed stream, counting the bytes consumed."""

    def __init__(self, raw: BinaryIO):
        self._raw, self.offset, self._pending = raw, 0, b""

    def take(self, n: int) -> bytes:
        out = self._pending[:n]
        self._pending = self._pending[n:]
        while len(out) < n:
            chunk = self._raw.read(max(n - len(out), STEP))
            if not chunk:
                break
            need = n - len(out)
            out, self._pending = out + chunk[:need], chunk[need:] + self._pending
        self.offset += len(out)
        return out

    def push_back(self, data: bytes) -> None:
        self._pending = data + self._pending
        self.offset -= len(data)


class _Damaged(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class DecompressedStream(io.RawIOBase):
    """Read-only decompressed view of a .gz/.zst stream (see the module docstring)."""

    def __init__(self, raw: BinaryIO, codec: str):
        super().__init__()
        self._source = _Source(raw)
        self._codec = codec
        self._out = bytearray()
        self._frames = self._gzip_chunks() if codec == "gz" else self._zstd_chunks()
        self._failure: str | None = None
        self._done = False
        self.bytes_out = 0          # decompressed bytes handed out
        self.lines_out = 0          # newlines handed out (complete lines)
        self._last = b"\n"

    def readable(self) -> bool:
        return True

    def _fill(self, size: int) -> None:
        while len(self._out) < size and not self._done:
            try:
                self._out += next(self._frames)
            except StopIteration:
                self._done = True
            except _Damaged as e:
                self._done = True
                self._failure = e.what

    def read(self, size: int = -1) -> bytes:
        size = size if size is not None and size >= 0 else 1 << 62
        self._fill(size)
        data = bytes(self._out[:size])
        del self._out[:size]
        if not data and self._failure is not None:
            partial = self._last != b"\n"
            raise ReadError(f"truncated_stream: {self._codec} {self._failure}; {self.lines_out} complete lines "
                            f"read ({self.bytes_out} bytes), {int(partial)} partial line and every line "
                            f"after the damage unread")
        if data:
            self.bytes_out += len(data)
            self.lines_out += data.count(b"\n")
            self._last = data[-1:]
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    # ------------------------------------------------------------------ gzip

    def _gzip_chunks(self):
        source = self._source
        decoder = None
        while True:
            start = source.offset
            chunk = source.take(STEP)
            if not chunk:
                if decoder is not None and not decoder.eof:
                    raise _Damaged(f"stream ends inside a member at compressed byte {source.offset}")
                return
            if decoder is None:
                if not chunk.strip(b"\0"):   # zero padding after the last member (GzipFile allows it)
                    continue
                decoder = zlib.decompressobj(wbits=31)
            before = decoder.copy()
            try:
                out = decoder.decompress(chunk)
            except zlib.error:
                out, at = _replay(before, chunk)
                if out:
                    yield out
                raise _Damaged(f"corrupt data at compressed byte {start + at}") from None
            if out:
                yield out
            if decoder.eof:
                source.push_back(decoder.unused_data)
                decoder = None

    # ------------------------------------------------------------------ zstd

    def _zstd_chunks(self):
        import zstandard
        source = self._source
        while True:
            start = source.offset
            magic = source.take(4)
            if not magic:
                return
            if len(magic) < 4:
                raise _Damaged(f"stream ends inside a frame header at compressed byte {start}")
            if magic[1:] == b"\x2a\x4d\x18" and 0x50 <= magic[0] <= 0x5F:   # skippable frame
                size = source.take(4)
                if len(size) < 4 or len(source.take(int.from_bytes(size, "little"))) < int.from_bytes(size, "little"):
                    raise _Damaged(f"stream ends inside a skippable frame at compressed byte {start}")
                continue
            if magic != _ZSTD_MAGIC:
                raise _Damaged(f"no zstd frame at compressed byte {start}")
            decoder = zstandard.ZstdDecompressor().decompressobj()
            header = _zstd_frame_header(source, start)
            try:
                yield decoder.decompress(magic + header)
                checksum = bool(header[0] & 0x04)
                while True:
                    at = source.offset
                    block = source.take(3)
                    if len(block) < 3:
                        raise _Damaged(f"stream ends inside a frame at compressed byte {source.offset}")
                    value = int.from_bytes(block, "little")
                    last, kind, size = value & 1, (value >> 1) & 3, value >> 3
                    if kind == 3:
                        raise _Damaged(f"corrupt block header at compressed byte {at}")
                    body = source.take(1 if kind == 1 else size)
                    if len(body) < (1 if kind == 1 else size):
                        raise _Damaged(f"stream ends inside a block at compressed byte {source.offset}")
                    out = decoder.decompress(block + body)
                    if out:
                        yield out
                    if last:
                        break
                if checksum:
                    tail = source.take(4)
                    if len(tail) < 4:
                        raise _Damaged(f"stream ends inside a frame checksum at compressed byte {source.offset}")
                    out = decoder.decompress(tail)
                    if out:
                        yield out
            except zstandard.ZstdError as e:
                raise _Damaged(f"corrupt frame data near compressed byte {source.offset} ({e})") from None


def _zstd_frame_header(source: _Source, start: int) -> bytes:
    """The frame header after the magic number: descriptor, window, dictionary id, content size."""
    descriptor = source.take(1)
    if not descriptor:
        raise _Damaged(f"stream ends inside a frame header at compressed byte {start}")
    fhd = descriptor[0]
    single = (fhd >> 5) & 1
    fcs_flag = fhd >> 6
    size = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + ((1 if single else 0), 2, 4, 8)[fcs_flag]
    rest = source.take(size)
    if len(rest) < size:
        raise _Damaged(f"stream ends inside a frame header at compressed byte {start}")
    return descriptor + rest


def _replay(decoder, chunk: bytes) -> tuple[bytes, int]:
    """(output, offset in `chunk` of the byte that fails): `chunk` fed one byte at a time."""
    out = bytearray()
    for i in range(len(chunk)):
        try:
            out += decoder.decompress(chunk[i:i + 1])
        except zlib.error:
            return bytes(out), i
    return bytes(out), len(chunk)
