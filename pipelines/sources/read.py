"""Beam transform reading one raw family into a PCollection of Document | Rejected.

The family folder is listed recursively (discover.py: literal ROOT, links out of ROOT refused),
files are reshuffled so a Dataflow job spreads them over workers, and each file becomes one or
more work items: a Parquet file is expanded into one item per row group (a 2 GB file is not one
worker's job), then reshuffled again. Stack Exchange instead splits each Posts.xml into byte
ranges, buckets its rows' spans by question Id and reads each bucket's threads
(stackexchange_read.ReadPosts). Any unexpected exception
while parsing an item becomes a Rejected (reason "error: <ExcType>: <msg>", stage "read") so one
poisoned file never kills the job; records the item yielded before the error stay.
"""
from __future__ import annotations

from typing import Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import beam_files
from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources import FAMILIES, ReadLimits, family_files, parse_file, relative_name, work_items

NAMESPACE = "read"


class _ListFiles(beam.DoFn):
    def __init__(self, family: str, root: str):
        self._family, self._root = family, root
        self._files = Metrics.counter(NAMESPACE, f"{family}/files")

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, family: str):
        for path in family_files(family, self._root):
            self._files.inc()
            yield path


class _SplitFiles(beam.DoFn):
    """path -> (path, part) work items: one per Parquet row group, (path, None) for other files."""

    def __init__(self, family: str, root: str, limits: ReadLimits):
        self._family, self._root, self._limits = family, root, limits
        self._items = Metrics.counter(NAMESPACE, f"{family}/work_items")

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, path: str):
        try:
            parts = work_items(self._family, path, self._limits, self._root)
        except Exception:  # noqa: BLE001 - read it whole; the parser reports what is wrong
            parts = [None]
        for part in parts:
            self._items.inc()
            yield path, part


class _ParseFiles(beam.DoFn):
    def __init__(self, family: str, root: str, limits: ReadLimits, fields: Mapping[str, str] | None):
        self._family, self._root, self._limits = family, root, limits
        self._fields = dict(fields or {})
        self._documents = Metrics.counter(NAMESPACE, f"{family}/documents")
        self._rejected = Metrics.counter(NAMESPACE, f"{family}/rejected")
        self._errors = Metrics.counter(NAMESPACE, f"{family}/errors")

    def setup(self):
        beam_files.configure_gcs_emulator()

    def process(self, item: tuple[str, int | None]):
        path, part = item
        try:
            for record in parse_file(self._family, path, self._limits, root=self._root, part=part,
                                     fields=self._fields):
                (self._documents if isinstance(record, Document) else self._rejected).inc()
                yield record
        except Exception as e:  # noqa: BLE001 - the job must survive any one file
            self._errors.inc()
            locator = "file" if part is None else f"part {part}"
            yield rejected_input(FAMILIES[self._family].reader.SOURCE, relative_name(path, self._root), locator,
                                 f"error: {type(e).__name__}: {e}"[:1000])


class ReadFamily(beam.PTransform):
    """PBegin -> PCollection[Document | Rejected] of every file of `family` under `root`.

    `fields` maps the reader's field names to this export's column names (--field)."""

    def __init__(self, family: str, root: str, limits: ReadLimits = ReadLimits(),
                 fields: Mapping[str, str] | None = None):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
        self.family, self.root, self.limits, self.fields = family, root, limits, dict(fields or {})

    def expand(self, pbegin):
        f = self.family
        files = (pbegin
                 | f"Family {f}" >> beam.Create([f])
                 | f"List {f} files" >> beam.ParDo(_ListFiles(f, self.root)))
        special = FAMILIES[f].read_transform
        if special:   # e.g. one Posts.xml is many byte ranges whose threads meet in a GroupByKey
            import importlib

            module, _, name = special.partition(":")
            transform = getattr(importlib.import_module(module), name)
            return files | f"Read {f} with {name}" >> transform(self.root, self.limits)
        files = files | f"Reshuffle {f} files" >> beam.Reshuffle()
        if hasattr(FAMILIES[f].reader, "parts"):
            items = (files
                     | f"Split {f} files into row groups" >> beam.ParDo(_SplitFiles(f, self.root, self.limits))
                     | f"Reshuffle {f} row groups" >> beam.Reshuffle())
        else:
            items = files | f"Whole {f} files" >> beam.Map(lambda path: (path, None))
        return items | f"Parse {f} files" >> beam.ParDo(_ParseFiles(f, self.root, self.limits, self.fields))


def _user_id(record: Document | Rejected):
    original = record.meta.get("original_id") if isinstance(record.meta, dict) else None
    return [((record.source, str(original)), 1)] if original not in (None, "") else []


class _CountSharedFn(beam.DoFn):
    def __init__(self, namespace: str):
        self._namespace = namespace

    def process(self, element):
        (source, _), n = element
        if n > 1:
            Metrics.counter(self._namespace, f"{source}/duplicate_ids").inc()
            Metrics.counter(self._namespace, f"{source}/duplicate_id_documents").inc(n)
        return []


class CountSharedIds(beam.PTransform):
    """Records -> nothing: counts user ids (meta["original_id"]) that more than one record of a source carries.

    Documents are keyed by place (file + line/row), so records sharing a user id stay separate
    documents; the report shows how many ids were shared ("<source>/duplicate_ids") and by how
    many records ("<source>/duplicate_id_documents")."""

    def __init__(self, namespace: str, label: str | None = None):
        super().__init__(label)
        self.namespace = namespace

    def expand(self, records):
        return (records
                | "User id of each record" >> beam.FlatMap(_user_id)
                | "Records per user id" >> beam.CombinePerKey(sum)
                | "Count ids shared by several records" >> beam.ParDo(_CountSharedFn(self.namespace)))

