"""One bucket of a Posts.xml -> its records, from row spans: texts are read here, never shuffled.

The Beam job (stackexchange_read.py) scans a Posts.xml's byte ranges and sends each row to a bucket
(a stable hash of its thread's question Id, modulo the file's bucket count) as a `Span`: 25 bytes
naming where the row is (the byte offset and length of its record, its index in the record, whether
the record was cut). Row rejects are spans too (bucketed by their own offset). A bucket then
becomes a work item: `read_item` re-reads its records in file order (one seek + read each), parses
them with posts_xml again, checks that every span still names the row it named when scanned, and
assembles the threads with stackexchange.assemble in question-Id order.

Memory is the bucket's own rows (the file's body / its bucket count, ~BUCKET_BYTES of XML on
average); a thread whose HTML passes the cap (4 x max_doc_chars) stops being held the moment it
does and becomes one `document_too_long` reject. Pure: no Beam import; counters go through `count`.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Callable, Iterable, Iterator

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources import relative_name
from pipelines.sources.discover import open_input
from pipelines.sources.limits import MiB, ReadLimits
from pipelines.sources.posts_xml import Record, parse_record, read_prolog
from pipelines.sources.stackexchange import SOURCE, THREAD, Row, assemble, classify, too_long_thread

# Average bytes of Posts.xml per bucket when the count is derived (--num-shards 0): what one work item holds.
BUCKET_BYTES = 64 * MiB
_SPAN = struct.Struct("<QQQB")   # record offset, record length, item index in the record, record cut


def span(offset: int, length: int, index: int, too_long: bool) -> bytes:
    """A row's place in its file, packed (what crosses the shuffle instead of the row)."""
    return _SPAN.pack(offset, length, index, too_long)


def unpack(value: bytes) -> tuple[int, int, int, bool]:
    offset, length, index, cut = _SPAN.unpack(value)
    return offset, length, index, bool(cut)


def bucket_count(body_bytes: int, num_shards: int = 0, bucket_bytes: int = BUCKET_BYTES) -> int:
    """Buckets of one file: `num_shards` when positive, else one per `bucket_bytes` of its body (>= 1)."""
    if num_shards > 0:
        return num_shards
    return max(1, -(-max(0, body_bytes) // max(1, bucket_bytes)))


def bucket_of(what: str, buckets: int) -> int:
    """Stable bucket of a thread ("q<question Id>") or of a row reject ("@<offset>") among `buckets`."""
    digest = hashlib.sha256(b"posts-bucket\x00" + what.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def file_id(path: str) -> int:
    """63-bit id of a Posts.xml path: what a span's key carries instead of the path (~8 bytes, not ~70)."""
    digest = hashlib.sha256(b"posts-file\x00" + path.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


Count = Callable[[str, int], None]   # (row counter: "in_threads" | "rejected", n)


def _error(name: str, locator: str, exc: BaseException) -> Rejected:
    return rejected_input(SOURCE, name, locator, f"error: {type(exc).__name__}: {exc}"[:1000])


class _Thread:
    """Rows of one thread as they are read, in file order; dropped once past the HTML cap."""
    __slots__ = ("rows", "count", "size", "title")

    def __init__(self):
        self.rows: list[Row] | None = []
        self.count = self.size = 0
        self.title: str | None = None

    def add(self, row: Row, bound: int) -> None:
        attrs = row[1]
        self.count += 1
        if self.title is None and attrs.get("PostTypeId") == "1":
            self.title = attrs.get("Title", "")
        if self.rows is not None:
            self.size += len(attrs.get("Title", "")) + len(attrs.get("Body", ""))
            if self.size > bound:
                self.rows = None   # too long: only the count and the title are kept
            else:
                self.rows.append(row)


def _read_file(path: str, name: str, root: str | None, spans: list[bytes], limits: ReadLimits
               ) -> tuple[list[Rejected], dict[int, _Thread]]:
    """The file's spans of one bucket -> (row rejects, threads by question Id); raises if the file changed."""
    bound = 4 * limits.max_doc_chars
    rejects: list[Rejected] = []
    threads: dict[int, _Thread] = {}
    last: tuple[int, list] | None = None
    with open_input(path, root) as stream:
        prolog = read_prolog(stream)
        for value in spans:
            offset, length, index, cut = unpack(value)
            if last is None or last[0] != offset:
                stream.seek(offset)
                data = stream.read(length)
                if len(data) != length:
                    raise ValueError(f"{name} changed since it was scanned: record at byte {offset} is cut short")
                last = (offset, parse_record(Record(offset, data, cut), prolog.root, limits.max_line_bytes))
            items = last[1]
            if index >= len(items) or items[index].forbidden:
                raise ValueError(f"{name} changed since it was scanned: no row {index} in the record at byte {offset}")
            out = classify(name, items[index])
            if isinstance(out, Rejected):
                rejects.append(out)
            else:
                threads.setdefault(out[0], _Thread()).add(out[1], bound)
    return rejects, threads


def read_item(item, root: str | None, limits: ReadLimits = ReadLimits(), count: Count = lambda what, n: None
              ) -> Iterator[Document | Rejected]:
    """((path, bucket), (spans, rejects)) -> the bucket's records, in a fixed order: the file's own
    rejects (by id), row rejects (file order), then threads (by question Id).

    `spans` are sorted packed spans (`span`), `rejects` small Rejected records routed to this bucket
    (a refused or truncated file, a range that failed). A file that cannot be read again, or no longer
    holds the rows it held when scanned, becomes one error record accounting for every row of the item.
    """
    (path, bucket), (spans, rejects) = item
    yield from sorted(rejects, key=lambda r: (r.id, r.reason))
    if not spans:
        return
    name = relative_name(path, root) if root else path
    try:
        row_rejects, threads = _read_file(path, name, root, list(spans), limits)
    except Exception as e:  # noqa: BLE001 - one unreadable bucket never fails the job; its rows are accounted
        count("rejected", len(spans))
        yield _error(name, f"rows of bucket {bucket}", e)
        return
    count("rejected", len(row_rejects))
    yield from row_rejects
    for qid in sorted(threads):
        thread = threads.pop(qid)
        if thread.rows is None:
            count("in_threads", thread.count)
            yield too_long_thread(name, qid, thread.title or "", thread.count, limits)
            continue
        done = 0
        try:
            for record, kind, n in assemble(name, qid, thread.rows, limits):
                count("in_threads" if kind == THREAD else "rejected", n)
                done += n
                yield record
        except Exception as e:  # noqa: BLE001 - one bad thread never fails the job
            count("rejected", thread.count - done)
            yield _error(name, f"thread {qid}", e)


def sorted_spans(values: Iterable) -> tuple[list[bytes], list[Rejected]]:
    """A bucket's grouped values -> (spans in file order, small Rejected records)."""
    spans, rejects = [], []
    for value in values:
        (spans if isinstance(value, bytes) else rejects).append(value)
    spans.sort(key=lambda v: _SPAN.unpack(v)[:3])
    return spans, rejects
