"""The real decoded size of a Parquet column chunk, read from its page headers instead of the footer.

A footer's `total_byte_size` / `total_uncompressed_size` are claims the file makes about itself: a
7.5 KB file can declare 1,000 bytes and hold a 200 MB value. Each page header states the page's
uncompressed size, and the decoders are held to it (Arrow refuses a page that does not decompress
to exactly that size), so the sum over the headers bounds what decoding the chunk can allocate.
Walking the headers costs one small read per page (no page is decompressed).

The headers are Thrift compact protocol (parquet.thrift `PageHeader`); `read_struct` decodes any
struct generically, skipping nothing it does not understand, with a bound on how many bytes it reads.
"""
from __future__ import annotations

import dataclasses
from typing import Any, BinaryIO

# PageHeader field ids (parquet.thrift)
_TYPE, _UNCOMPRESSED, _COMPRESSED = 1, 2, 3
_DATA_V1, _DICTIONARY, _DATA_V2 = 5, 7, 8
PAGE_KINDS = {0: "data", 1: "index", 2: "dictionary", 3: "data_v2"}
MAX_HEADER_BYTES = 16 << 20     # statistics in a header are small; more is a broken or hostile file
MAX_PAGES = 1 << 20             # pages per column chunk (a 1 TB chunk of 1 MB pages)


class PageError(ValueError):
    """The page headers cannot be walked (truncated, inconsistent or hostile); message says where.

    `pages` holds the pages walked before the bad header: the decoder can read those, no further."""

    def __init__(self, message: str, pages: list["Page"] | None = None):
        super().__init__(message)
        self.pages = list(pages or [])


@dataclasses.dataclass(frozen=True)
class Page:
    kind: str               # data | data_v2 | dictionary | index
    uncompressed: int       # bytes the page decompresses to (what decoding allocates)
    compressed: int         # bytes stored after the header
    values: int             # values (data, dictionary pages) incl. nulls; 0 if unknown


# ---------------------------------------------------------------- thrift compact protocol

class _Buffer:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise EOFError
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise EOFError
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise PageError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)


def _value(buf: _Buffer, kind: int, depth: int) -> Any:
    if depth > 32:
        raise PageError("thrift nesting too deep")
    if kind in (1, 2):                 # bool inside a list/set: one byte
        return buf.byte() == 1
    if kind == 3:
        return buf.byte()
    if kind in (4, 5, 6):
        return buf.zigzag()
    if kind == 7:
        return buf.take(8)
    if kind == 8:
        return buf.take(buf.varint())
    if kind in (9, 10):
        head = buf.byte()
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size = buf.varint()
        return [_value(buf, elem, depth + 1) for _ in range(size)]
    if kind == 11:
        size = buf.varint()
        if not size:
            return {}
        types = buf.byte()
        return {_key(_value(buf, types >> 4, depth + 1)): _value(buf, types & 0x0F, depth + 1) for _ in range(size)}
    if kind == 12:
        return _struct(buf, depth + 1)
    raise PageError(f"unknown thrift type {kind}")


def _key(value: Any) -> Any:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else value


def _struct(buf: _Buffer, depth: int) -> dict[int, Any]:
    fields: dict[int, Any] = {}
    last = 0
    while True:
        head = buf.byte()
        if head == 0:
            return fields
        delta, kind = head >> 4, head & 0x0F
        field = last + delta if delta else buf.zigzag()
        fields[field] = (kind == 1) if kind in (1, 2) else _value(buf, kind, depth)
        last = field


def read_struct(data: bytes) -> tuple[dict[int, Any], int]:
    """(field id -> value, bytes used) of one compact-protocol struct at the start of `data`.

    Raises EOFError when `data` ends before the struct does (the caller reads more)."""
    buf = _Buffer(data)
    return _struct(buf, 0), buf.pos


# ---------------------------------------------------------------- pages of a column chunk

def _read_header(stream: BinaryIO, offset: int) -> tuple[dict[int, Any], int]:
    want = 4096
    while True:
        stream.seek(offset)
        data = stream.read(want)
        try:
            return read_struct(data)
        except EOFError:
            if len(data) < want:
                raise PageError(f"page header at byte {offset} runs past the end of the file") from None
            if want >= MAX_HEADER_BYTES:
                raise PageError(f"page header at byte {offset} is over {MAX_HEADER_BYTES} bytes") from None
            want *= 4


def _page(header: dict[int, Any], offset: int) -> Page:
    kind = PAGE_KINDS.get(header.get(_TYPE), "unknown")
    uncompressed, compressed = header.get(_UNCOMPRESSED), header.get(_COMPRESSED)
    if not isinstance(uncompressed, int) or not isinstance(compressed, int) or uncompressed < 0 or compressed < 0:
        raise PageError(f"page header at byte {offset} has no valid sizes")
    values = 0
    for field in (_DATA_V1, _DICTIONARY, _DATA_V2):
        sub = header.get(field)
        if isinstance(sub, dict) and isinstance(sub.get(1), int):
            values = sub[1]
    return Page(kind, uncompressed, compressed, values)


def column_chunk_pages(stream: BinaryIO, column) -> list[Page]:
    """Every page of one column chunk (pyarrow ColumnChunkMetaData), from its headers.

    Walks from the first page (dictionary page if any) until the chunk's values are all seen or
    its stored bytes are used up; raises PageError if the headers do not add up."""
    starts = [o for o in (column.dictionary_page_offset, column.data_page_offset) if o]
    if not starts:
        raise PageError(f"column {column.path_in_schema}: no page offset")
    offset = min(starts)
    if offset < 0 or column.total_compressed_size < 0 or column.num_values < 0:
        # A damaged footer: these integers are read from it unchecked (seek(-n) would raise).
        raise PageError(f"column {column.path_in_schema}: footer gives a negative offset or size "
                        f"(offset {offset}, size {column.total_compressed_size}, "
                        f"values {column.num_values})")
    end = offset + column.total_compressed_size
    pages: list[Page] = []
    values = 0
    while offset < end and values < column.num_values:
        try:
            header, used = _read_header(stream, offset)
            page = _page(header, offset)
        except PageError as e:
            raise PageError(f"column {column.path_in_schema}: {e}", pages) from None
        pages.append(page)
        if page.kind in ("data", "data_v2"):
            values += page.values
        offset += used + page.compressed
        if len(pages) > MAX_PAGES:
            raise PageError(f"column {column.path_in_schema}: more than {MAX_PAGES} pages", pages)
    return pages
