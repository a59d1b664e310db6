"""One reader per raw family; each turns a file's bytes into Document | Rejected records.

A reader is any object with FAMILY (folder name under ROOT), SOURCE (tag used for
file-level rejects), PATTERNS (file name patterns, matched below the family folder at any depth:
discover.py) and `parse(stream, name, limits) -> Iterator[Document | Rejected]`: a pure generator
over an already-decompressed binary stream. `name` is the file's path relative to ROOT
(e.g. "stack/data/python/train-0.parquet"): ids and meta use it, so the same file gives the same
ids read from local disk or from gs://. Optional: FIELDS (the field names `--field` may map; then
parse takes `fields=`), and `parts(stream, name, limits)` + `parse_part(stream, name, part, limits)`
for files that split into independent work items (Parquet row groups).

No Beam import here (read.py holds the PTransform); parse_file imports FileSystems lazily.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources import (commits, cooldown, notebooks, slimpajama, stack, stackexchange,
                               synthetic)
from pipelines.sources.discover import InputRefused, open_input
from pipelines.sources.limits import ReadError, ReadLimits, open_decompressed

__all__ = ["FAMILIES", "ReadLimits", "ReadError", "open_decompressed", "parse_file",
           "family_files", "relative_name", "work_items"]

FAMILIES = {
    "stack": stack,
    "slimpajama": slimpajama,
    "commits": commits,
    "notebooks": notebooks,
    "stackexchange": stackexchange,
    "synthetic": synthetic,
    "math": cooldown.MATH,
    "instruct": cooldown.INSTRUCT,
}


def family_files(family: str, root: str) -> list[str]:
    """Every file of `family` under ROOT (local or gs://), found recursively, ROOT taken literally."""
    from pipelines.sources import discover
    return list(discover.list_family(root, family, FAMILIES[family].PATTERNS).files)


def relative_name(path: str, root: str) -> str:
    """`path` relative to ROOT with '/' separators; the path itself if it is not under ROOT."""
    import os
    prefix = root.rstrip("/" + os.sep)
    if path.startswith(prefix + "/") or path.startswith(prefix + os.sep):
        return path[len(prefix) + 1:].replace(os.sep, "/")
    return path


def parse_stream(family: str, stream, name: str, limits: ReadLimits = ReadLimits(), part: int | None = None,
                 fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    """Decompress by extension and parse (the whole file, or one `part` of it); a file-level failure
    ends as one Rejected.

    Records yielded before a decompression cap or a corrupt block are kept: they were
    complete and valid; the Rejected names why the rest of the file was not read.
    """
    reader = FAMILIES[family]
    kwargs = {"fields": fields} if fields else {}
    try:
        if part is None:
            yield from reader.parse(open_decompressed(stream, name, limits), name, limits, **kwargs)
        else:
            yield from reader.parse_part(stream, name, part, limits, **kwargs)
    except ReadError as e:
        yield rejected_input(reader.SOURCE, name, "file", e.reason)


def parse_file(family: str, path: str, limits: ReadLimits = ReadLimits(), root: str | None = None,
               part: int | None = None, fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    """Read one file (or one part of it) through Beam FileSystems (local or gs://) with the family's reader.

    A local path that leaves ROOT through a symlink, or is not a regular file, becomes one
    Rejected before any of its bytes is read (discover.open_input)."""
    name = relative_name(path, root) if root else path
    try:
        stream = open_input(path, root)
    except InputRefused as e:
        yield rejected_input(FAMILIES[family].SOURCE, name, "file", e.reason)
        return
    with stream:
        yield from parse_stream(family, stream, name, limits, part, fields)


def work_items(family: str, path: str, limits: ReadLimits = ReadLimits(), root: str | None = None
               ) -> list[int | None]:
    """The parts a file splits into ([None]: read it whole). A file that cannot be split is read whole,
    so its reader reports why."""
    reader = FAMILIES[family]
    if not hasattr(reader, "parts") or not path.lower().endswith(".parquet"):
        return [None]
    name = relative_name(path, root) if root else path
    try:
        with open_input(path, root) as stream:
            parts = reader.parts(stream, name, limits)
    except (InputRefused, OSError):
        return [None]
    return list(parts) or [None]
