"""Beam transform reading one raw family into a PCollection of Document | Rejected.

Files are listed with FileSystems.match (local or gs://), reshuffled so a Dataflow job
spreads files over workers, and parsed one file per element; Stack Exchange instead splits
each Posts.xml into byte ranges and groups rows into threads (stackexchange_read.ReadPosts).
Any unexpected exception while parsing a file becomes a Rejected (reason "error: <ExcType>: <msg>", stage "read")
so one poisoned file never kills the job; records the file yielded before the error stay.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import io
from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources import FAMILIES, ReadLimits, family_patterns, parse_file, relative_name

NAMESPACE = "read"


class _MatchPatterns(beam.DoFn):
    def __init__(self, family: str):
        self._family = family
        self._files = Metrics.counter(NAMESPACE, f"{family}/files")

    def setup(self):
        io.configure_gcs_emulator()

    def process(self, pattern: str):
        for path in io.match(pattern):
            self._files.inc()
            yield path


class _ParseFiles(beam.DoFn):
    def __init__(self, family: str, root: str, limits: ReadLimits):
        self._family, self._root, self._limits = family, root, limits
        self._documents = Metrics.counter(NAMESPACE, f"{family}/documents")
        self._rejected = Metrics.counter(NAMESPACE, f"{family}/rejected")
        self._errors = Metrics.counter(NAMESPACE, f"{family}/errors")

    def setup(self):
        io.configure_gcs_emulator()

    def process(self, path: str):
        try:
            for record in parse_file(self._family, path, self._limits, root=self._root):
                (self._documents if isinstance(record, Document) else self._rejected).inc()
                yield record
        except Exception as e:  # noqa: BLE001 - the job must survive any one file
            self._errors.inc()
            yield rejected_input(FAMILIES[self._family].SOURCE, relative_name(path, self._root), "file",
                                 f"error: {type(e).__name__}: {e}"[:1000])


class ReadFamily(beam.PTransform):
    """PBegin -> PCollection[Document | Rejected] of every file of `family` under `root`."""

    def __init__(self, family: str, root: str, limits: ReadLimits = ReadLimits()):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
        self.family, self.root, self.limits = family, root, limits

    def expand(self, pbegin):
        f = self.family
        files = (pbegin
                 | f"List {f} file patterns" >> beam.Create(family_patterns(f, self.root))
                 | f"List {f} files" >> beam.ParDo(_MatchPatterns(f)))
        if f == "stackexchange":   # one Posts.xml is many byte ranges; threads meet in a GroupByKey
            from pipelines.sources.stackexchange_read import ReadPosts
            return files | f"Read {f} posts" >> ReadPosts(self.root, self.limits)
        return (files
                | f"Reshuffle {f} files" >> beam.Reshuffle()
                | f"Parse {f} files" >> beam.ParDo(_ParseFiles(f, self.root, self.limits)))

