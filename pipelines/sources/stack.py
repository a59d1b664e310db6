"""The Stack (parquet) -> `code` (top-25 languages) and `markup` (Markdown, HTML, CSS).

Layouts: any tree of *.parquet below stack/ (the Hugging Face layout `data/<language>/train-*.parquet`
is found by discovery). Columns: The Stack v1 / v1.2 and the-stack-dedup / the-stack-smol names
(content, lang, max_stars_repo_path, max_stars_repo_name, max_stars_repo_licenses, hexsha, ...),
with The Stack v2 names as fallbacks once it is hydrated with `content` (language, path, repo_name,
detected_licenses, blob_id, extension, star_events_count), and any other names through a field
mapping (`--field stack.content=code`). A file without a language column takes the language from
its folder when the folder names one (`data/python/...`), as in StarCoderData.

Work items: a large file is split by row group (`parts`), each group read on its own
(`parse_part`), so one 2 GB file is spread over workers. Each row is kept only if its language is
selected (languages.route) and every licence detected for its repository is permissive; the others
become Rejected with the reason. Every row of the file is accounted for (parquet_rows): `in` counts
rows, a damaged row costs itself only, and memory is bounded by ReadLimits, whatever the footer says.
"""
from __future__ import annotations

import posixpath
from typing import Any, BinaryIO, Iterator, Mapping

from pipelines.document import Document, Rejected, doc_id, rejected_input
from pipelines.sources import languages
from pipelines.sources.limits import MiB, ReadLimits, checked_document
from pipelines.sources.parquet_footer import unsafe_row_groups
from pipelines.sources.parquet_rows import UNREADABLE, arrow_errors, read_row_group

SOURCE = "code"
PATTERNS = ("*.parquet",)
READ_BUFFER_BYTES = 1 * MiB   # Arrow reads column chunks through a buffer this size (no whole-chunk reads)

# Canonical field -> column names tried in order (v1 first, then v2). `content` and a language are required.
COLUMNS: dict[str, tuple[str, ...]] = {
    "content": ("content",),
    "lang": ("lang", "language"),
    "ext": ("ext", "extension"),
    "size": ("size", "length_bytes"),
    "hexsha": ("hexsha", "blob_id"),
    "max_stars_repo_path": ("max_stars_repo_path", "path"),
    "max_stars_repo_name": ("max_stars_repo_name", "repo_name"),
    "max_stars_repo_head_hexsha": ("max_stars_repo_head_hexsha", "revision_id"),
    "max_stars_repo_licenses": ("max_stars_repo_licenses", "detected_licenses"),
    "max_stars_count": ("max_stars_count", "star_events_count"),
    "licenses": ("licenses",),
    "avg_line_length": ("avg_line_length",),
    "max_line_length": ("max_line_length",),
    "alphanum_fraction": ("alphanum_fraction",),
}
FIELDS = tuple(COLUMNS)
# A bad value in these drops the row (they decide what it is and whether it may be used);
# a bad value elsewhere only loses that piece of metadata.
_REQUIRED = ("content", "lang", "max_stars_repo_licenses", "licenses")


def resolve_columns(schema, name: str, fields: Mapping[str, str] | None = None
                    ) -> tuple[dict[str, str], str | None, str | None]:
    """(canonical -> column in this file, language from the folder or None, schema_mismatch reason or None)."""
    import pyarrow as pa
    fields = fields or {}
    names = set(schema.names)
    chosen: dict[str, str] = {}
    for canonical, candidates in COLUMNS.items():
        wanted = (fields[canonical],) if canonical in fields else candidates
        column = next((c for c in wanted if c in names), None)
        if column is not None:
            chosen[canonical] = column
    mapped = lambda c: f"{fields[c]} (mapped to {c})" if c in fields else c   # noqa: E731
    if "content" not in chosen:
        return {}, None, f"schema_mismatch: no {mapped('content')} column"
    repeated = sorted(c for c in set(chosen.values()) if schema.names.count(c) > 1)
    if repeated:   # Arrow allows two columns of one name; which one holds the text cannot be known
        return {}, None, (f"schema_mismatch: column {repeated[0]} appears {schema.names.count(repeated[0])} "
                          "times")
    content_type = schema.field(chosen["content"]).type
    if pa.types.is_dictionary(content_type):   # dictionary-encoded strings decode to the same str values
        content_type = content_type.value_type
    if not (pa.types.is_string(content_type) or pa.types.is_large_string(content_type)):
        return {}, None, f"schema_mismatch: {mapped('content')} is {content_type}"
    folder_lang = None
    if "lang" not in chosen:
        folder = posixpath.basename(posixpath.dirname(name))
        folder_lang = languages.canonical(folder)
        if folder_lang is None:
            return {}, None, f"schema_mismatch: no {mapped('lang')} column"
    return chosen, folder_lang, None


def _licenses(row: dict[str, Any]) -> list[str]:
    for key in ("max_stars_repo_licenses", "licenses"):
        value = row.get(key)
        if isinstance(value, (list, tuple)):
            return [v for v in value if isinstance(v, str)]
        if isinstance(value, str):
            return [value]
    return []


def row_to_record(row: dict[str, Any], path: str, index: int, limits: ReadLimits) -> Document | Rejected:
    """Route one Stack row by language and licence; pure, so curate tests can call it.

    The id is keyed by file and row (unique in a job); the repo/path@hexsha the row names is kept as
    meta["original_id"] (byte-identical files in two repos share a hexsha, and one file can appear
    in several exports: exact dedup then decides which copy is kept)."""
    locator = f"row {index}"
    key = f"{path}#{locator}"
    lang = row.get("lang") if row.get("lang") is not None else row.get("language")
    content = row.get("content")
    if not isinstance(content, str):
        return rejected_input(SOURCE, path, locator, "missing_field: content", meta={"row": index})
    if not isinstance(lang, str) or not lang:
        return rejected_input(SOURCE, path, locator, "missing_field: lang", content, meta={"row": index})
    source = languages.route(lang)
    hexsha, repo, repo_path = row.get("hexsha"), row.get("max_stars_repo_name"), row.get("max_stars_repo_path")
    licences = _licenses(row)
    meta = {"language": languages.canonical(lang) or lang, "ext": row.get("ext"),
            "path": repo_path, "repo": repo, "repo_head": row.get("max_stars_repo_head_hexsha"),
            "licenses": licences, "stars": row.get("max_stars_count"), "hexsha": hexsha,
            "file": path, "row": index}
    if isinstance(hexsha, str) and hexsha:
        meta["original_id"] = f"{repo or ''}/{repo_path or ''}@{hexsha}"
    if row.get(UNREADABLE):
        meta["unreadable_columns"] = list(row[UNREADABLE])
    if source is None:
        return Document(doc_id(SOURCE, key), SOURCE, content, meta).reject(
            f"language_not_selected: {lang}", "read")
    bad = [lic for lic in licences if not languages.is_permissive(lic)]
    if not licences or bad:
        reason = f"license_not_permissive: {bad[0] if bad else 'none'}"
        return Document(doc_id(source, key), source, content, meta).reject(reason, "read")
    return checked_document(source, key, content, meta, limits)


def _open(stream: BinaryIO, path: str):
    """(ParquetFile, None), (None, reject) for a file Arrow cannot open, or (None, None) for an empty file."""
    import pyarrow.parquet as pq
    try:
        return pq.ParquetFile(stream, pre_buffer=False, buffer_size=READ_BUFFER_BYTES,
                              page_checksum_verification=True), None
    except arrow_errors() as e:
        if not _has_bytes(stream):
            return None, None   # an empty file holds no rows: nothing to read, nothing lost
        return None, rejected_input(SOURCE, path, "file", f"unreadable_parquet: {type(e).__name__}: {e}")


def parts(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> list[int]:
    """Row groups of the file (the work items it splits into); [] when it cannot be opened."""
    pf, _ = _open(stream, path)
    return list(range(pf.metadata.num_row_groups)) if pf is not None else []


def parse_part(stream: BinaryIO, path: str, group: int, limits: ReadLimits = ReadLimits(),
               fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    """Every row of row group `group`: one Document or Rejected per row."""
    return _parse_groups(stream, path, group, limits, fields)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
          fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    """Every row of the file, row group after row group."""
    return _parse_groups(stream, path, None, limits, fields)


def _parse_groups(stream: BinaryIO, path: str, group: int | None, limits: ReadLimits,
                  fields: Mapping[str, str] | None) -> Iterator[Document | Rejected]:
    pf, problem = _open(stream, path)
    if pf is None:
        if problem is not None:
            yield problem
        return
    groups = range(pf.metadata.num_row_groups) if group is None else [group]
    yield from _rows(pf, stream, path, groups, limits, fields)


def _rows(pf, stream: BinaryIO, path: str, groups, limits: ReadLimits,
          fields: Mapping[str, str] | None) -> Iterator[Document | Rejected]:
    meta = pf.metadata
    try:
        chosen, folder_lang, problem = resolve_columns(pf.schema_arrow, path, fields)
    except UnicodeDecodeError as e:   # a damaged footer: pyarrow decodes names only when read
        chosen, folder_lang = {}, None
        problem = f"unreadable_parquet: footer schema name is not UTF-8 (byte {e.start})"
    physical_required = [chosen[c] for c in _REQUIRED if c in chosen]
    rename = {column: canonical for canonical, column in chosen.items()}
    damaged, unsafe = unsafe_row_groups(stream)   # before pyarrow builds column metadata (it may abort)
    for group in groups:
        first = sum(meta.row_group(g).num_rows for g in range(group))   # file-wide row index
        reason = problem or damaged or unsafe.get(group)
        if reason:
            for row in range(meta.row_group(group).num_rows):
                yield rejected_input(SOURCE, path, f"row {first + row}", reason, meta={"row": first + row})
            continue
        for row, item in read_row_group(pf, stream, group, list(chosen.values()), physical_required, limits):
            index = first + row
            if isinstance(item, str):
                yield rejected_input(SOURCE, path, f"row {index}", item, meta={"row": index})
                continue
            values = {rename.get(k, k): v for k, v in item.items()}
            if folder_lang is not None:
                values["lang"] = folder_lang
            yield row_to_record(values, path, index, limits)


def _has_bytes(stream: BinaryIO) -> bool:
    try:
        stream.seek(0)
        return bool(stream.read(1))
    except (OSError, ValueError):
        return True
