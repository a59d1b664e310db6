"""Beam read of Stack Exchange Posts.xml at any size: byte ranges -> row spans -> buckets -> threads.

    paths -> Split <file> into ranges (prolog and tail checked; a refused file ends here as one reject)
          -> Reshuffle ranges (spread over workers)
          -> Scan ranges (posts_xml: one record at a time, each row parsed alone, then dropped)
               per row a 25-byte span keyed (file id, bucket of its question Id) -> GroupByKey
               DTD markup found mid-file -> one per file -> the file's reject + a side input
                                                            that drops the file's spans
          -> work items ((file, bucket), (spans, small rejects))
          -> read_item: the bucket's records re-read by their spans, threads assembled (posts_buckets.py)

No text crosses the shuffle: a range worker holds one record (<= max_line_bytes), a bucket work item
its own rows (the file's body / its bucket count: ~64 MiB of XML by default, --num-shards sets the
count per file); a thread past the HTML cap is dropped from memory as it grows (one reject).
Curate takes `WorkItems` as its pass-1 work items and `read_item` as their reader; `ReadPosts`
(previews, ReadFamily) is the two in a row.

Counters (namespace "curate", the funnel's): `stackexchange/rows/in` counts every unit read
from a Posts.xml (row element, malformed record, stray text); each lands in exactly one of
`rows/in_threads` (inside a thread record, kept or rejected later), `rows/rejected` (its own
Rejected, errors included) and `rows/in_refused_files` (file refused whole for DTD markup found
after rows were read). funnel.py checks that they add up. Rows of a file refused at its prolog
are never read and not counted: that file is its one Rejected.
"""
from __future__ import annotations

import os
import re
from typing import BinaryIO

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, AsMultiMap, TaggedOutput

from pipelines import beam_files
from pipelines.document import Rejected, rejected_input
from pipelines.sources import relative_name
from pipelines.sources.discover import InputRefused, open_input
from pipelines.sources.limits import MiB, ReadLimits
from pipelines.sources import posts_buckets
from pipelines.sources.posts_xml import CHUNK_BYTES, iter_records, parse_record, tail_problem
from pipelines.sources.stackexchange import SOURCE, classify, file_reject, prolog_of
from pipelines.steps import NAMESPACE

# Bytes of Posts.xml per work item: stackoverflow.com's ~100 GB is ~1,600 ranges.
RANGE_BYTES = 64 * MiB
_FORBIDDEN, _DONE, _FILES = "forbidden", "done", "files"
_ROW_START = re.compile(r"<row[\s/>]")
_DECLARED = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _error(name: str, locator: str, exc: BaseException) -> Rejected:
    return rejected_input(SOURCE, name, locator, f"error: {type(exc).__name__}: {exc}"[:1000])


def _rows_counter(what: str):
    return Metrics.counter(NAMESPACE, f"{SOURCE}/rows/{what}")


class _SplitFile(beam.DoFn):
    """path -> (path, name, start, end, body_start, root, buckets) ranges, ((file id, 0), the file's Rejected),
    and (file id, path) for the work items."""

    def __init__(self, root: str, range_bytes: int, num_shards: int = 0,
                 bucket_bytes: int = posts_buckets.BUCKET_BYTES):
        self._root, self._range_bytes = root, range_bytes
        self._num_shards, self._bucket_bytes = num_shards, bucket_bytes

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, path: str):
        name = relative_name(path, self._root)
        fid = posts_buckets.file_id(path)
        yield TaggedOutput(_FILES, (fid, path))   # keys carry this id; the work item gets the path back
        try:
            with open_input(path, self._root) as stream:   # links out of --input refused unread
                stream.seek(0, os.SEEK_END)   # the size from the open file: `path` is never a glob
                size = stream.tell()
                stream.seek(0)
                prolog = prolog_of(stream, name)
                if isinstance(prolog, Rejected):   # refused whole (UTF-16, a DTD): its rows still count in
                    rows = count_rows(stream)
                    _rows_counter("in").inc(rows)
                    _rows_counter("in_refused_files").inc(rows)
                    yield TaggedOutput(_DONE, ((fid, 0), prolog))
                    return
                truncated = tail_problem(stream, size, prolog)
        except InputRefused as e:
            yield TaggedOutput(_DONE, ((fid, 0), rejected_input(SOURCE, name, "file", e.reason)))
            return
        except Exception as e:  # noqa: BLE001 - one unreadable file never fails the job
            yield TaggedOutput(_DONE, ((fid, 0), _error(name, "file", e)))
            return
        if truncated:
            yield TaggedOutput(_DONE, ((fid, 0), rejected_input(SOURCE, name, "end of file", truncated)))
        if prolog.body_start is None:
            return
        buckets = posts_buckets.bucket_count(size - prolog.body_start, self._num_shards, self._bucket_bytes)
        for start in range(prolog.body_start, size, self._range_bytes):
            yield (path, name, start, min(size, start + self._range_bytes), prolog.body_start, prolog.root,
                   buckets)


class _ScanRange(beam.DoFn):
    """One byte range -> ((file id, bucket), span) per row | (path, (offset, reason, name)) forbidden | error.

    Each row is parsed (to learn its question Id, or that it is a reject) and dropped: only its span
    (posts_buckets.span, 25 bytes) goes on, to the bucket of its thread (or of its own offset)."""

    def __init__(self, limits: ReadLimits, input_root: str | None = None):
        self._limits, self._input_root = limits, input_root
        self._in, self._refused = _rows_counter("in"), _rows_counter("in_refused_files")

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, rng):
        path, name, start, end, body_start, root, buckets = rng
        fid = posts_buckets.file_id(path)
        try:
            with open_input(path, self._input_root) as stream:
                for record in iter_records(stream, start, end, body_start, self._limits.max_line_bytes):
                    for index, item in enumerate(parse_record(record, root, self._limits.max_line_bytes)):
                        self._in.inc()
                        if item.forbidden:
                            self._refused.inc()
                            yield TaggedOutput(_FORBIDDEN, (path, (item.offset, item.reason, name)))
                            continue
                        out = classify(name, item)
                        what = f"@{item.offset}" if isinstance(out, Rejected) else f"q{out[0]}"
                        yield ((fid, posts_buckets.bucket_of(what, buckets)),
                               posts_buckets.span(record.offset, len(record.data), index, record.too_long))
        except Exception as e:  # noqa: BLE001 - the rows read so far stand; the error names the range
            yield TaggedOutput(_DONE, ((fid, 0), _error(name, f"bytes {start}-{end}", e)))


class _BucketItems(beam.DoFn):
    """((file id, bucket), spans and small rejects) -> ((path, bucket), (spans, rejects)), the work item,
    without the spans of a refused file."""

    def __init__(self):
        self._refused = _rows_counter("in_refused_files")

    def process(self, group, refused: dict, files):
        (fid, bucket), values = group
        paths = sorted(set(files[fid]))   # a MultiMap: [] for an unknown id
        if len(paths) != 1:   # 2^-63 per pair of files; never a silent mix-up of two files' rows
            raise RuntimeError(f"Posts.xml file id {fid} names {len(paths)} files: {paths[:2]}")
        spans, rejects = posts_buckets.sorted_spans(values)
        if paths[0] in refused:
            self._refused.inc(len(spans))
            spans = []
        if spans or rejects:
            yield (paths[0], bucket), (spans, rejects)


class _ReadItem(beam.DoFn):
    """A bucket work item -> its Documents and Rejected (posts_buckets.read_item), rows counted."""

    def __init__(self, root: str, limits: ReadLimits):
        self._root, self._limits = root, limits

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, item):
        yield from read_item(item, self._root, self._limits)


def read_item(item, root: str, limits: ReadLimits):
    """posts_buckets.read_item with the job's row counters (curate's pass 1 calls this per item)."""
    counters = {what: _rows_counter(what) for what in ("in_threads", "rejected")}
    return posts_buckets.read_item(item, root, limits, lambda what, n: counters[what].inc(n))


class WorkItems(beam.PTransform):
    """PCollection[path of a Posts.xml] -> PCollection[((path, bucket), (spans, rejects))].

    Only spans (25 bytes a row) and small Rejected records (no text) enter the GroupByKey; a
    bucket's texts are read by whoever takes the item (read_item)."""

    def __init__(self, root: str, limits: ReadLimits = ReadLimits(), range_bytes: int = RANGE_BYTES,
                 num_shards: int = 0, bucket_bytes: int = posts_buckets.BUCKET_BYTES):
        super().__init__()
        if range_bytes < 1 or bucket_bytes < 1 or num_shards < 0:
            raise ValueError(f"range_bytes and bucket_bytes must be positive and num_shards >= 0, got "
                             f"{range_bytes}, {bucket_bytes}, {num_shards}")
        self.root, self.limits, self.range_bytes = root, limits, range_bytes
        self.num_shards, self.bucket_bytes = num_shards, bucket_bytes

    def expand(self, paths):
        split = paths | "Split Posts.xml into byte ranges" >> beam.ParDo(
            _SplitFile(self.root, self.range_bytes, self.num_shards, self.bucket_bytes)).with_outputs(
                _DONE, _FILES, main="ranges")
        scanned = (split.ranges
                   | "Reshuffle Posts.xml ranges" >> beam.Reshuffle()
                   | "Scan Posts.xml rows" >> beam.ParDo(_ScanRange(self.limits, self.root)).with_outputs(
                       _FORBIDDEN, _DONE, main="spans"))
        forbidden = scanned[_FORBIDDEN] | "First DTD markup per file" >> beam.CombinePerKey(min)
        file_rejects = forbidden | "Refuse files with DTD markup" >> beam.MapTuple(
            lambda path, first: ((posts_buckets.file_id(path), 0), file_reject(first[2], first[1])))
        return ((split[_DONE], scanned[_DONE], file_rejects, scanned.spans)
                | "Merge Stack Exchange spans" >> beam.Flatten()
                | "Group spans by bucket" >> beam.GroupByKey()
                | "Bucket work items" >> beam.ParDo(_BucketItems(), AsDict(forbidden), AsMultiMap(split[_FILES])))


class ReadPosts(beam.PTransform):
    """PCollection[path of a Posts.xml] -> PCollection[Document | Rejected], any file size."""

    def __init__(self, root: str, limits: ReadLimits = ReadLimits(), range_bytes: int = RANGE_BYTES,
                 num_shards: int = 0, bucket_bytes: int = posts_buckets.BUCKET_BYTES):
        super().__init__()
        self.items = WorkItems(root, limits, range_bytes, num_shards, bucket_bytes)
        self.root, self.limits = root, limits

    def expand(self, paths):
        return (paths
                | "Stack Exchange work items" >> self.items
                | "Read Stack Exchange buckets" >> beam.ParDo(_ReadItem(self.root, self.limits)))


def count_rows(stream: BinaryIO) -> int:
    """`<row` elements in a file refused whole (another encoding, a DTD): the ledger still counts its rows.

    The text is decoded as its byte-order mark or XML declaration says (UTF-8 otherwise, bad bytes
    replaced), chunk by chunk; nothing is parsed, so nothing is expanded."""
    import codecs

    stream.seek(0)
    head = stream.read(4096)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    else:
        declared = _DECLARED.search(head.replace(b"\x00", b""))
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        decoder = codecs.getincrementaldecoder(encoding)("replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
    count, tail, chunk = 0, "", head
    while True:
        text = tail + decoder.decode(chunk, not chunk)
        count += len(_ROW_START.findall(text))   # 4 trailing chars hold no whole match: kept for the next
        tail = text[-4:]
        if not chunk:
            return count
        chunk = stream.read(CHUNK_BYTES)
