"""Beam read of Stack Exchange Posts.xml at any size: byte ranges -> rows -> GroupByKey -> threads.

    paths -> Split <file> into ranges (prolog and tail checked; a refused file ends here as one reject)
          -> Reshuffle ranges (spread over workers)
          -> Parse ranges (posts_xml: one record at a time, each row parsed alone)
               rows keyed (file, question Id) -> GroupByKey -> Assemble threads
               row rejects ---------------------------------> Drop rows of refused files
               DTD markup found mid-file -> one per file -----> the file's reject + a side input
                                                                  that refuses its rows and threads

No stage holds a file: a range worker holds one record (<= max_line_bytes), the assembly one
thread group (<= 4 x max_doc_chars of HTML, larger groups are rejected without being held).
Rows of one thread meet in the shuffle, wherever in the file they are.

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
from apache_beam.pvalue import AsDict, TaggedOutput

from pipelines import beam_files
from pipelines.document import Rejected, rejected_input
from pipelines.sources import relative_name
from pipelines.sources.discover import InputRefused, open_input
from pipelines.sources.limits import MiB, ReadLimits
from pipelines.sources.posts_xml import CHUNK_BYTES, Prolog, iter_items, tail_problem
from pipelines.sources.stackexchange import (SOURCE, THREAD, assemble, classify, file_reject,
                                             prolog_of)
from pipelines.steps import NAMESPACE

# Bytes of Posts.xml per work item: stackoverflow.com's ~100 GB is ~1,600 ranges.
RANGE_BYTES = 64 * MiB
_ROWS, _FORBIDDEN, _DONE = "rows", "forbidden", "done"
_ROW_START = re.compile(r"<row[\s/>]")
_DECLARED = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _error(name: str, locator: str, exc: BaseException) -> Rejected:
    return rejected_input(SOURCE, name, locator, f"error: {type(exc).__name__}: {exc}"[:1000])


def _rows_counter(what: str):
    return Metrics.counter(NAMESPACE, f"{SOURCE}/rows/{what}")


class _SplitFile(beam.DoFn):
    """path -> (path, name, start, end, body_start, root) ranges, or the file's Rejected."""

    def __init__(self, root: str, range_bytes: int):
        self._root, self._range_bytes = root, range_bytes

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, path: str):
        name = relative_name(path, self._root)
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
                    yield TaggedOutput(_DONE, prolog)
                    return
                truncated = tail_problem(stream, size, prolog)
        except InputRefused as e:
            yield TaggedOutput(_DONE, rejected_input(SOURCE, name, "file", e.reason))
            return
        except Exception as e:  # noqa: BLE001 - one unreadable file never fails the job
            yield TaggedOutput(_DONE, _error(name, "file", e))
            return
        if truncated:
            yield TaggedOutput(_DONE, rejected_input(SOURCE, name, "end of file", truncated))
        if prolog.body_start is None:
            return
        for start in range(prolog.body_start, size, self._range_bytes):
            yield path, name, start, min(size, start + self._range_bytes), prolog.body_start, prolog.root


class _ParseRange(beam.DoFn):
    """One byte range -> ((name, question Id), row) | row Rejected | (name, (offset, reason)) forbidden."""

    def __init__(self, limits: ReadLimits, input_root: str | None = None):
        self._limits, self._input_root = limits, input_root
        self._in, self._refused = _rows_counter("in"), _rows_counter("in_refused_files")

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, rng):
        path, name, start, end, body_start, root = rng
        try:
            with open_input(path, self._input_root) as stream:
                for item in iter_items(stream, start, end, Prolog(body_start, root), self._limits.max_line_bytes):
                    self._in.inc()
                    if item.forbidden:
                        self._refused.inc()
                        yield TaggedOutput(_FORBIDDEN, (name, (item.offset, item.reason)))
                        continue
                    out = classify(name, item)
                    if isinstance(out, Rejected):
                        yield TaggedOutput(_ROWS, out)
                    else:
                        yield (name, out[0]), out[1]
        except Exception as e:  # noqa: BLE001 - the rows read so far stand; the error names the range
            yield TaggedOutput(_DONE, _error(name, f"bytes {start}-{end}", e))


class _DropRefused(beam.DoFn):
    """Row rejects pass on, except those of a file refused whole (counted there instead)."""

    def __init__(self):
        self._rejected, self._refused = _rows_counter("rejected"), _rows_counter("in_refused_files")

    def process(self, record: Rejected, refused: dict):
        if record.meta.get("path") in refused:
            self._refused.inc()
            return
        self._rejected.inc()
        yield record


class _Counted:
    """Iterates a group's rows and counts them (so an error can account for every row)."""

    def __init__(self, rows):
        self._rows, self.n = rows, 0

    def __iter__(self):
        for row in self._rows:
            self.n += 1
            yield row


class _AssembleThreads(beam.DoFn):
    """((name, question Id), rows) -> the thread record and the group's row rejects."""

    def __init__(self, limits: ReadLimits):
        self._limits = limits
        self._threads, self._rejected = _rows_counter("in_threads"), _rows_counter("rejected")
        self._refused = _rows_counter("in_refused_files")

    def process(self, group, refused: dict):
        (name, qid), rows = group
        counted = _Counted(rows)
        if name in refused:
            self._refused.inc(sum(1 for _ in counted))
            return
        done = 0
        try:
            for record, kind, n in assemble(name, qid, counted, self._limits):
                (self._threads if kind == THREAD else self._rejected).inc(n)
                done += n
                yield record
        except Exception as e:  # noqa: BLE001 - one bad thread never fails the job
            for _ in counted:
                pass
            self._rejected.inc(counted.n - done)
            yield _error(name, f"thread {qid}", e)


class ReadPosts(beam.PTransform):
    """PCollection[path of a Posts.xml] -> PCollection[Document | Rejected], any file size."""

    def __init__(self, root: str, limits: ReadLimits = ReadLimits(), range_bytes: int = RANGE_BYTES):
        super().__init__()
        if range_bytes < 1:
            raise ValueError(f"range_bytes must be positive, got {range_bytes}")
        self.root, self.limits, self.range_bytes = root, limits, range_bytes

    def expand(self, paths):
        split = paths | "Split Posts.xml into byte ranges" >> beam.ParDo(
            _SplitFile(self.root, self.range_bytes)).with_outputs(_DONE, main="ranges")
        parsed = (split.ranges
                  | "Reshuffle Posts.xml ranges" >> beam.Reshuffle()
                  | "Parse Posts.xml rows" >> beam.ParDo(_ParseRange(self.limits, self.root)).with_outputs(
                      _ROWS, _FORBIDDEN, _DONE, main="keyed"))
        forbidden = parsed[_FORBIDDEN] | "First DTD markup per file" >> beam.CombinePerKey(min)
        refused = AsDict(forbidden)
        file_rejects = forbidden | "Refuse files with DTD markup" >> beam.MapTuple(
            lambda name, first: file_reject(name, first[1]))
        rows = parsed[_ROWS] | "Drop rows of refused files" >> beam.ParDo(_DropRefused(), refused)
        threads = (parsed.keyed
                   | "Group rows by question" >> beam.GroupByKey()
                   | "Assemble threads" >> beam.ParDo(_AssembleThreads(self.limits), refused))
        return ((split[_DONE], parsed[_DONE], file_rejects, rows, threads)
                | "Merge Stack Exchange records" >> beam.Flatten())


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
