"""Posts.xml as a splittable line source: a checked prolog, byte-range records, rows parsed one by one.

A Stack Exchange dump holds one `<row .../>` element per line between `<posts>` and
`</posts>` (newlines inside attribute values are written as `&#xA;`). So a file of any
size splits into byte ranges that workers read independently, like Beam's text sources:

- `read_prolog` reads the bytes before the first row (at most PROLOG_MAX_BYTES) with expat
  handlers that refuse any DTD, entity declaration or external reference before anything is
  expanded or fetched, and an encoding other than UTF-8. Its `body_start` is where rows begin.
- `iter_records` yields the records whose first byte lies in [start, end). A record is a line
  that starts with `<` plus the lines after it that do not (a row whose attribute values hold
  raw newlines); a range reads past `end` to finish its last record, and skips continuation
  lines at its start, which belong to the range before. Every byte of the body is owned by
  exactly one range, whatever the cut points. Memory is one record (<= max_record_bytes).
- `parse_record` parses one record alone with a fresh hardened expat parser (no DTD, so any
  entity reference other than the five predefined ones is an error, never an expansion). It
  returns one `Item` per row element or per problem, each with its byte offset in the file.

Pure: no Beam import (stackexchange_read.py holds the transforms).
"""
from __future__ import annotations

import dataclasses
import re
from typing import BinaryIO, Iterator
from xml.parsers import expat

ROOT_TAG = "posts"
PROLOG_MAX_BYTES = 1 << 20
CHUNK_BYTES = 1 << 20
_WRAP_OPEN, _WRAP_CLOSE = b"<r>", b"</r>"
_UTF8 = {"utf-8", "utf8", "us-ascii", "ascii"}
# DTD markup anywhere in the body: the file is refused, as a DTD in its prolog would be.
_DTD_MARKUP = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ATTLIST|ELEMENT|NOTATION)\b", re.IGNORECASE)
_BLANK = re.compile(rb"\s*\Z")
# Comments and CDATA sections: markup-like text inside them is text, not a DTD.
_INERT = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.DOTALL)


class Forbidden(Exception):
    """The file declares a DTD or entities, or is not UTF-8: refused whole; message is the reason."""


@dataclasses.dataclass(frozen=True)
class Prolog:
    body_start: int | None   # byte offset where rows begin; None: no element at all (empty file)
    root: str | None         # "posts", or None when rows are not wrapped in a root element


@dataclasses.dataclass(frozen=True)
class Record:
    offset: int         # byte offset of the record's first byte in the file
    data: bytes         # the record, or its first max_record_bytes when `too_long`
    too_long: bool = False


@dataclasses.dataclass(frozen=True)
class Item:
    """One unit of a Posts.xml: a row's attributes, or why a piece of the file is not a row."""
    offset: int
    attrs: dict[str, str] | None = None   # a <row> element
    reason: str | None = None             # a reject ("unknown_row_element: Row", "malformed_row: ...")
    raw: str = ""                         # the bytes behind a reject, for inspection
    forbidden: bool = False               # DTD markup in the body: the whole file is refused


# ---------------------------------------------------------------- hardened expat

def _hardened(encoding: str | None = None) -> expat.XMLParserType:
    """An expat parser that raises Forbidden on any entity declaration or external reference."""
    parser = expat.ParserCreate(encoding)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def forbid_entity(name, *_):
        raise Forbidden(f"xml_entities_forbidden: entity {name}")

    def doctype(name, system_id, public_id, has_internal_subset):
        if system_id or public_id:
            raise Forbidden(f"xml_entities_forbidden: external DTD {system_id or public_id}")

    def end_doctype():
        raise Forbidden("xml_entities_forbidden: a DTD (rows are parsed without one)")

    def external_ref(context, base, system_id, public_id):
        raise Forbidden(f"xml_entities_forbidden: external entity {system_id}")

    parser.EntityDeclHandler = forbid_entity
    parser.UnparsedEntityDeclHandler = forbid_entity
    parser.StartDoctypeDeclHandler = doctype
    parser.EndDoctypeDeclHandler = end_doctype
    parser.ExternalEntityRefHandler = external_ref
    return parser


class _RootFound(Exception):
    def __init__(self, tag: str, index: int):
        super().__init__(tag)
        self.tag, self.index = tag, index


def _tag_end(data: bytes, start: int) -> int | None:
    """Offset just after the '>' closing the tag that opens at `start` (quotes respected)."""
    quote = None
    for i in range(start + 1, len(data)):
        c = data[i]
        if quote is not None:
            if c == quote:
                quote = None
        elif c in (0x22, 0x27):   # " '
            quote = c
        elif c == 0x3E:           # >
            return i + 1
    return None


def _broken_first_row(head: bytes, error_at: int) -> int | None:
    """Offset of a first element that is not <posts> and failed to parse, else None.

    Without a <posts> wrapper the first row is the first element: its own defect is that row's
    problem (a malformed_row), not the file's.
    """
    at = head.rfind(b"<", 0, max(0, error_at) + 1)
    match = re.match(rb"<([A-Za-z_:][-\w.:]*)", head[at:]) if at >= 0 else None
    if match is None or match.group(1) == ROOT_TAG.encode("ascii"):
        return None
    return at


def read_prolog(stream: BinaryIO) -> Prolog:
    """Where the rows begin; raises Forbidden (DTD, entities, non-UTF-8) or expat.ExpatError.

    Reads from the stream's current position (the file's start) at most PROLOG_MAX_BYTES.
    """
    parser = _hardened()

    def xml_decl(version, encoding, standalone):
        if encoding and encoding.strip().lower() not in _UTF8:
            raise Forbidden(f"unsupported_encoding: {encoding} (Posts.xml is UTF-8)")

    def start(tag, attrs):
        raise _RootFound(tag, parser.CurrentByteIndex)

    parser.XmlDeclHandler = xml_decl
    parser.StartElementHandler = start
    head = b""
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not head and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise Forbidden("unsupported_encoding: UTF-16 (Posts.xml is UTF-8)")
        head += chunk
        try:
            parser.Parse(chunk, not chunk)
        except _RootFound as found:
            if found.tag != ROOT_TAG:
                return Prolog(found.index, None)       # rows without a <posts> wrapper
            end = _tag_end(head, found.index)
            if end is None:
                raise expat.ExpatError(f"unclosed <{ROOT_TAG}> start tag")
            empty = head[:end].rstrip(b">").rstrip().endswith(b"/")   # <posts/>: no rows, no end tag
            return Prolog(end, None if empty else ROOT_TAG)
        except expat.ExpatError as e:
            if e.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]:
                return Prolog(None, None)              # empty, or only a declaration
            first = _broken_first_row(head, parser.ErrorByteIndex)
            if first is None:
                raise
            return Prolog(first, None)
        if not chunk:
            return Prolog(None, None)
        if len(head) >= PROLOG_MAX_BYTES:
            raise expat.ExpatError(f"no root element in the first {PROLOG_MAX_BYTES} bytes")


# ---------------------------------------------------------------- byte ranges -> records

def _is_start(line: bytes) -> bool:
    """A line whose first non-blank byte is '<' opens a record; others continue the one before."""
    stripped = line.lstrip()
    return stripped[:1] == b"<"


def _lines(stream: BinaryIO, pos: int, max_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line with its newline, cut) read from `pos`; a line over `max_bytes` is cut there.

    A cut line is skipped to its newline without being buffered (a 10 GB line costs max_bytes).
    """
    buf = bytearray()
    line_start, cut = pos, False
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        i = 0
        while i < len(chunk):
            nl = chunk.find(b"\n", i)
            stop = len(chunk) if nl < 0 else nl + 1
            if not cut:
                room = max_bytes - len(buf)
                if stop - i > room:
                    buf += chunk[i:i + room]
                    cut = True
                else:
                    buf += chunk[i:stop]
            if nl < 0:
                break
            yield line_start, bytes(buf), cut
            line_start, cut = pos + stop, False
            buf.clear()
            i = stop
        pos += len(chunk)
    if buf or cut:
        yield line_start, bytes(buf), cut


def iter_records(stream: BinaryIO, start: int, end: int, body_start: int,
                 max_record_bytes: int) -> Iterator[Record]:
    """Records whose first byte is in [max(start, body_start), end); see the module docstring."""
    begin = max(start, body_start)
    if begin >= end:
        return
    # A range that starts inside the body first drops the rest of the line holding begin - 1
    # and any continuation lines after it: an earlier range owns them.
    skipping = begin > body_start
    pos = begin - 1 if skipping else begin
    stream.seek(pos)
    lines = _lines(stream, pos, max_record_bytes)
    if skipping:
        next(lines, None)
    current: _Pending | None = None
    for offset, line, cut in lines:
        opens = _is_start(line)
        if skipping:
            if offset >= end:
                return
            if not opens:
                continue
            skipping = False
        if opens:
            if offset >= end:
                break
            if current is not None:
                yield current.record()
            current = _Pending(offset, line, cut, max_record_bytes)
        elif current is not None:
            current.add(line, cut)
        elif not _BLANK.match(line):   # text before the first row of the body: a record of its own
            current = _Pending(offset, line, cut, max_record_bytes)
    if current is not None:
        yield current.record()


class _Pending:
    """A record being assembled from its lines, never holding more than `limit` bytes."""

    def __init__(self, offset: int, line: bytes, cut: bool, limit: int):
        self.offset, self.data, self.limit = offset, bytearray(line), limit
        self.too_long = cut

    def add(self, line: bytes, cut: bool) -> None:
        if self.too_long:
            return
        self.data += line
        if cut or len(self.data) > self.limit:
            del self.data[self.limit:]
            self.too_long = True

    def record(self) -> Record:
        return Record(self.offset, bytes(self.data), self.too_long)


# ---------------------------------------------------------------- one record -> items

def _raw(data: bytes) -> str:
    return data[:65536].decode("utf-8", "replace")


class _RowCollector:
    """Expat handlers that turn the children of the wrapper element into Items."""

    def __init__(self, parser: expat.XMLParserType, base: int, raw: str):
        self.parser, self.base, self.raw = parser, base, raw
        self.items: list[Item] = []
        self.depth = 0
        self.open: list | None = None     # [offset, tag, attrs, problem] of the current row element
        self.in_text = False              # inside a run of stray text between elements
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text

    def _offset(self) -> int:
        return self.base + max(0, self.parser.CurrentByteIndex - len(_WRAP_OPEN))

    def start(self, tag, attrs):
        self.depth += 1
        self.in_text = False
        if self.depth == 2:
            self.open = [self._offset(), tag, attrs, None]
        elif self.depth > 2 and self.open[3] is None:
            self.open[3] = f"malformed_row: nested element <{tag}>"

    def end(self, tag):
        self.depth -= 1
        if self.depth == 1:
            offset, name, attrs, problem = self.open
            if problem:
                self.items.append(Item(offset, reason=problem, raw=self.raw))
            elif name != "row":
                self.items.append(Item(offset, reason=f"unknown_row_element: {name}", raw=self.raw))
            else:
                self.items.append(Item(offset, attrs=attrs))
            self.open = None

    def text(self, data):
        if not data.strip():
            return
        if self.depth == 1 and not self.in_text:
            self.in_text = True
            self.items.append(Item(self._offset(), reason="stray_text: text between rows", raw=self.raw))
        elif self.depth >= 2 and self.open[3] is None:
            self.open[3] = "malformed_row: text inside a row element"


def parse_record(record: Record, root: str | None, max_record_bytes: int) -> list[Item]:
    """The Items of one record: rows, rejects, or one `forbidden` Item for DTD markup.

    Each record is parsed on its own by a fresh expat parser with no DTD: an entity reference
    (`&lol9;`, `&xxe;`) is an undefined entity, i.e. a malformed row, never an expansion.
    """
    data = record.data
    markup = _DTD_MARKUP.search(_INERT.sub(lambda m: b" " * len(m.group(0)), data)) if b"<!" in data else None
    if markup:
        name = markup.group(1).decode("ascii").upper()
        return [Item(record.offset, forbidden=True,
                     reason=f"xml_entities_forbidden: <!{name} at byte {record.offset + markup.start()}")]
    if record.too_long:
        return [Item(record.offset, reason=f"row_too_long: more than {max_record_bytes} bytes",
                     raw=_raw(data[:4096]))]
    if root:
        data = re.sub(rb"</%s\s*>\s*\Z" % root.encode("ascii"), b"", data)
    if _BLANK.match(data):
        return []
    parser = _hardened("utf-8")
    collector = _RowCollector(parser, record.offset, _raw(data))
    try:
        parser.Parse(_WRAP_OPEN + data + _WRAP_CLOSE, True)
    except expat.ExpatError as e:
        at = record.offset + max(0, parser.ErrorByteIndex - len(_WRAP_OPEN))
        return [Item(record.offset, reason=f"malformed_row: {expat.errors.messages[e.code]} at byte {at}",
                     raw=_raw(data))]
    except Forbidden as e:   # unreachable after the markup check; kept as the parser's own guard
        return [Item(record.offset, forbidden=True, reason=str(e))]
    finally:
        # parser -> handlers -> collector -> parser is a cycle: left to the cyclic GC, millions of
        # dead parsers pile up in its oldest generation (measured: +40 MiB over a 2 GB file).
        collector.parser = None
    return collector.items


def tail_problem(stream: BinaryIO, size: int, prolog: Prolog) -> str | None:
    """`truncated_xml` when a file that opened <posts> does not end with </posts> (a cut download)."""
    if prolog.root is None or prolog.body_start is None:
        return None
    n = min(size - prolog.body_start, 256)
    stream.seek(size - n)
    if re.search(rb"</%s\s*>\s*\Z" % prolog.root.encode("ascii"), stream.read(n)):
        return None
    return f"truncated_xml: the file does not end with </{prolog.root}>; rows after the cut are missing"


def iter_items(stream: BinaryIO, start: int, end: int, prolog: Prolog, max_record_bytes: int
               ) -> Iterator[Item]:
    """Every Item of the records whose first byte lies in [start, end)."""
    if prolog.body_start is None:
        return
    for record in iter_records(stream, start, end, prolog.body_start, max_record_bytes):
        yield from parse_record(record, prolog.root, max_record_bytes)
