"""One reader per raw family; each turns a file's bytes into Document | Rejected records.

A reader is any object with FAMILY (folder name under ROOT), SOURCE (tag used for
file-level rejects), PATTERNS (globs relative to the family folder) and
`parse(stream, name, limits) -> Iterator[Document | Rejected]`: a pure generator over
an already-decompressed binary stream. `name` is the file's path relative to ROOT
(e.g. "stack/part-0.parquet"): ids and meta use it, so the same file gives the same
ids read from local disk or from gs://.

No Beam import here (read.py holds the PTransform); parse_file imports FileSystems lazily.
"""
from __future__ import annotations

from typing import Iterator

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources import (commits, cooldown, notebooks, slimpajama, stack, stackexchange,
                               synthetic)
from pipelines.sources.limits import ReadError, ReadLimits, open_decompressed

__all__ = ["FAMILIES", "ReadLimits", "ReadError", "open_decompressed", "parse_file",
           "family_patterns", "relative_name"]

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


def family_patterns(family: str, root: str) -> list[str]:
    """Full glob patterns of a family's files under ROOT (local or gs://)."""
    from pipelines import io
    return [io.join(root, family, p) for p in FAMILIES[family].PATTERNS]


def relative_name(path: str, root: str) -> str:
    """`path` relative to ROOT with '/' separators; the path itself if it is not under ROOT."""
    import os
    prefix = root.rstrip("/" + os.sep)
    if path.startswith(prefix + "/") or path.startswith(prefix + os.sep):
        return path[len(prefix) + 1:].replace(os.sep, "/")
    return path


def parse_stream(family: str, stream, name: str, limits: ReadLimits = ReadLimits()
                 ) -> Iterator[Document | Rejected]:
    """Decompress by extension and parse; a file-level failure ends as one Rejected.

    Records yielded before a decompression cap or a corrupt block are kept: they were
    complete and valid; the Rejected names why the rest of the file was not read.
    """
    reader = FAMILIES[family]
    try:
        yield from reader.parse(open_decompressed(stream, name, limits), name, limits)
    except ReadError as e:
        yield rejected_input(reader.SOURCE, name, "file", e.reason)


def parse_file(family: str, path: str, limits: ReadLimits = ReadLimits(),
               root: str | None = None) -> Iterator[Document | Rejected]:
    """Read one file through Beam FileSystems (local or gs://) with the family's reader."""
    from pipelines import io
    name = relative_name(path, root) if root else path
    with io.open_read(path) as stream:
        yield from parse_stream(family, stream, name, limits)
