"""The family registry: one line per raw family says how it is read, filtered, verified and tagged.

A family is a folder under ROOT read by one reader. Its `Family` line below is the one place that
declares its reader, the source tags it produces with the filter chain each tag runs (language-ID
behaviour included: pipelines/filters/__init__.py), and its verification hook. A tag's role in mixtures
(text, code, markup, code-adjacent, synthetic, cooldown) is declared in tokens/sources.py, which the mixer
can import without Beam; `register` refuses a tag that has no role there. Everything else is derived:
curate's families and per-source outputs, `filters_for`, the report's per-source counters, the mixer's
shares and evals' code share.

Adding a family: a reader module here, plus one `Family(...)` line in BUILT_IN (and a `tag: role` line in
tokens/sources.py if its tag is new). `register(Family(...))` does the same at runtime (tests).

A reader is any object with SOURCE (tag used for file-level rejects), PATTERNS (file name patterns,
matched below the family folder at any depth: discover.py) and `parse(stream, name, limits) ->
Iterator[Document | Rejected]`: a pure generator over an already-decompressed binary stream. `name` is
the file's path relative to ROOT (e.g. "stack/data/python/train-0.parquet"): ids and meta use it, so the
same file gives the same ids read from local disk or from gs://. Optional: FIELDS (the field names
`--field` may map; then parse takes `fields=`), and `parts(stream, name, limits)` +
`parse_part(stream, name, part, limits)` for files that split into independent work items (Parquet row
groups).

No Beam import here (read.py holds the PTransform); parse_file imports FileSystems lazily.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Mapping

from pipelines import filters
from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources import (commits, cooldown, notebooks, slimpajama, stack, stackexchange,
                               synthetic)
from pipelines.sources.discover import InputRefused, open_input
from pipelines.sources.limits import ReadError, ReadLimits, open_decompressed
from tokens import sources as tags

__all__ = ["FAMILIES", "Family", "ReadLimits", "ReadError", "open_decompressed", "parse_file", "register",
           "unregister", "filters_for", "family_tags", "family_files", "relative_name", "work_items"]

Chain = Callable[[filters.FilterConfig], list]        # FilterConfig -> [(step name, filter)]
Verify = Callable[[Any, str], list]                   # (VerifyConfig, tag) -> [check], run after the filters


@dataclasses.dataclass(frozen=True)
class Family:
    name: str                      # folder under ROOT
    reader: Any                    # module or object with SOURCE, PATTERNS, parse (see above)
    chains: Mapping[str, Chain]    # source tag -> its filter chain; the keys are the tags the family produces
    verify: Verify | None = None   # execution check (pipelines/verify) for what the filters cannot judge
    # "module:Class" of a Beam PTransform (paths of the family's files -> records) that replaces the per-file
    # read, for files one worker should not parse whole (a Posts.xml of any size); named, not imported: no Beam here.
    # The module also gives curate its work items: `WorkItems` (paths -> small (key, item) records) and
    # `read_item(item, root, limits)` (an item -> its records, texts read there: pass 1 of curate_passes.py)
    read_transform: str | None = None
    # Redact personal data and secrets (pipelines/redact) in every tag of the family unless --pii-sources says
    # otherwise: on where people type addresses and keys (code, commits, notebooks, Q&A), off for published
    # web text and generated data.
    redact: bool = False

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.chains)


BUILT_IN = (
    Family("stack", stack, {"code": filters.code_chain, "markup": filters.markup_chain}, redact=True),
    Family("slimpajama", slimpajama, {"text": filters.text_chain}),
    Family("commits", commits, {"commits": filters.commit_chain}, redact=True),
    Family("notebooks", notebooks, {"notebooks": filters.notebook_chain}, redact=True),
    Family("stackexchange", stackexchange, {"stackexchange": filters.stackexchange_chain},
           read_transform="pipelines.sources.stackexchange_read:ReadPosts", redact=True),
    Family("synthetic", synthetic, {"synthetic": filters.no_filters}, verify=synthetic.verify_checks),
    Family("math", cooldown.MATH, {"math": filters.math_chain}),
    Family("instruct", cooldown.INSTRUCT, {"instruct": filters.instruct_chain}),
)

FAMILIES: dict[str, Family] = {}


def register(family: Family) -> None:
    """Add a family; its tags must have a role in tokens/sources.py and belong to no other family."""
    if family.name in FAMILIES:
        raise ValueError(f"family {family.name!r} is already registered")
    missing = [attr for attr in ("SOURCE", "PATTERNS", "parse") if not hasattr(family.reader, attr)]
    if missing:
        raise ValueError(f"family {family.name!r}: its reader lacks {', '.join(missing)}")
    if not family.tags or family.reader.SOURCE not in family.tags:
        raise ValueError(f"family {family.name!r}: its reader's SOURCE {family.reader.SOURCE!r} must be one of "
                         f"its tags {family.tags}")
    for tag in family.tags:
        tags.role_of(tag)   # KeyError naming the known tags
        owner = next((f.name for f in FAMILIES.values() if tag in f.tags), None)
        if owner:
            raise ValueError(f"family {family.name!r}: tag {tag!r} is already produced by family {owner!r}")
    FAMILIES[family.name] = family


def unregister(name: str) -> None:
    """Remove a family added with `register` (tests clean up with this)."""
    FAMILIES.pop(name, None)


for _family in BUILT_IN:
    register(_family)


def family_tags(family: str) -> tuple[str, ...]:
    """The source tags `family` produces (a reader emitting another tag is an error record)."""
    return FAMILIES[family].tags


def chain_of(tag: str) -> Chain:
    for family in FAMILIES.values():
        if tag in family.chains:
            return family.chains[tag]
    raise ValueError(f"unknown source tag {tag!r}; expected one of "
                     f"{sorted(t for f in FAMILIES.values() for t in f.tags)}")


def filters_for(source: str, cfg: filters.FilterConfig = filters.FilterConfig()) -> list[tuple[str, filters.Filter]]:
    """Ordered (step name, filter) pairs for one source tag, as its family declares them; cheap steps first."""
    return chain_of(source)(cfg)


def family_files(family: str, root: str) -> list[str]:
    """Every file of `family` under ROOT (local or gs://), found recursively, ROOT taken literally."""
    from pipelines.sources import discover
    return list(discover.list_family(root, family, FAMILIES[family].reader.PATTERNS).files)


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
    reader = FAMILIES[family].reader
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
        yield rejected_input(FAMILIES[family].reader.SOURCE, name, "file", e.reason)
        return
    with stream:
        yield from parse_stream(family, stream, name, limits, part, fields)


def work_items(family: str, path: str, limits: ReadLimits = ReadLimits(), root: str | None = None
               ) -> list[int | None]:
    """The parts a file splits into ([None]: read it whole). A file that cannot be split is read whole,
    so its reader reports why."""
    reader = FAMILIES[family].reader
    if not hasattr(reader, "parts") or not path.lower().endswith(".parquet"):
        return [None]
    name = relative_name(path, root) if root else path
    try:
        with open_input(path, root) as stream:
            parts = reader.parts(stream, name, limits)
    except (InputRefused, OSError):
        return [None]
    return list(parts) or [None]
