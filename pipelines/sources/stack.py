"""The Stack (v1.2 parquet) -> `code` (top-25 languages) and `markup` (Markdown, HTML, CSS).

Streams record batches (ParquetFile.iter_batches) so a 1 GB shard is never loaded whole.
A row is kept only if its language is selected (languages.route) and every licence
detected for its repository is permissive; the others become Rejected with the reason.
A file pyarrow cannot open becomes one Rejected "unreadable_parquet"; a corrupt row group
becomes one Rejected naming how many rows it lost, and the other row groups are still read.
"""
from __future__ import annotations

from typing import Any, BinaryIO, Iterator

from pipelines.document import Document, Rejected, doc_id, rejected_input
from pipelines.sources import languages
from pipelines.sources.limits import ReadLimits, checked_document

FAMILY = "stack"
SOURCE = "code"
PATTERNS = ("*.parquet",)
BATCH_ROWS = 256

# Columns read when present (The Stack v1.2 schema); `content` and a language column are required.
_COLUMNS = ("content", "lang", "language", "ext", "size", "hexsha", "max_stars_repo_path",
            "max_stars_repo_name", "max_stars_repo_head_hexsha", "max_stars_repo_licenses",
            "max_stars_count", "licenses", "avg_line_length", "max_line_length", "alphanum_fraction")


def _check_schema(schema) -> tuple[list[str], str | None]:
    """(columns to read, schema_mismatch reason or None)."""
    import pyarrow as pa
    names = set(schema.names)
    if "content" not in names:
        return [], "schema_mismatch: no content column"
    if not ({"lang", "language"} & names):
        return [], "schema_mismatch: no lang column"
    if not (pa.types.is_string(schema.field("content").type)
            or pa.types.is_large_string(schema.field("content").type)):
        return [], f"schema_mismatch: content is {schema.field('content').type}"
    return [c for c in _COLUMNS if c in names], None


def _licenses(row: dict[str, Any]) -> list[str]:
    for key in ("max_stars_repo_licenses", "licenses"):
        value = row.get(key)
        if isinstance(value, (list, tuple)):
            return [v for v in value if isinstance(v, str)]
        if isinstance(value, str):
            return [value]
    return []


def row_to_record(row: dict[str, Any], path: str, index: int, limits: ReadLimits) -> Document | Rejected:
    """Route one Stack row by language and licence; pure, so curate tests can call it."""
    locator = f"row {index}"
    lang = row.get("lang") if row.get("lang") is not None else row.get("language")
    content = row.get("content")
    if not isinstance(content, str):
        return rejected_input(SOURCE, path, locator, "missing_field: content")
    if not isinstance(lang, str) or not lang:
        return rejected_input(SOURCE, path, locator, "missing_field: lang", content)
    source = languages.route(lang)
    # hexsha is a blob hash: byte-identical files in two repos share it, so the id also names
    # the repo and path (ids stay unique; exact dedup then decides which copy is kept).
    hexsha, repo, repo_path = row.get("hexsha"), row.get("max_stars_repo_name"), row.get("max_stars_repo_path")
    if isinstance(hexsha, str) and hexsha:
        original = f"{repo or ''}/{repo_path or ''}@{hexsha}"
    else:
        original = f"{path}#{index}"
    licences = _licenses(row)
    meta = {"language": languages.canonical(lang) or lang, "ext": row.get("ext"),
            "path": row.get("max_stars_repo_path"), "repo": row.get("max_stars_repo_name"),
            "repo_head": row.get("max_stars_repo_head_hexsha"), "licenses": licences,
            "stars": row.get("max_stars_count"), "hexsha": row.get("hexsha"),
            "file": path, "row": index}
    if source is None:
        return Document(doc_id(SOURCE, original), SOURCE, content, meta).reject(
            f"language_not_selected: {lang}", "read")
    bad = [lic for lic in licences if not languages.is_permissive(lic)]
    if not licences or bad:
        reason = f"license_not_permissive: {bad[0] if bad else 'none'}"
        return Document(doc_id(source, original), source, content, meta).reject(reason, "read")
    return checked_document(source, original, content, meta, limits)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> Iterator[Document | Rejected]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError, ValueError) as e:
        if not _has_bytes(stream):
            return  # an empty file holds no rows: nothing to read, nothing lost
        yield rejected_input(SOURCE, path, "file", f"unreadable_parquet: {type(e).__name__}: {e}")
        return
    columns, problem = _check_schema(pf.schema_arrow)
    if problem:
        yield rejected_input(SOURCE, path, "file", problem)
        return
    declared = sum(pf.metadata.row_group(i).total_byte_size for i in range(pf.metadata.num_row_groups))
    if declared > limits.max_file_bytes:
        yield rejected_input(SOURCE, path, "file",
                             f"decompression_limit: {declared} > {limits.max_file_bytes} bytes uncompressed")
        return
    index = 0
    for group in range(pf.metadata.num_row_groups):
        # One row group at a time: a corrupt page costs its own group, not the whole file.
        group_rows = pf.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, row_groups=[group]):
                for row in batch.to_pylist():
                    yield row_to_record(row, path, index + done, limits)
                    done += 1
        except (pa.ArrowException, OSError, ValueError) as e:
            yield rejected_input(SOURCE, path, f"row group {group}",
                                 f"unreadable_parquet: row group {group} ({group_rows - done} of {group_rows} "
                                 f"rows unread): {type(e).__name__}: {e}")
        index += group_rows


def _has_bytes(stream: BinaryIO) -> bool:
    try:
        stream.seek(0)
        return bool(stream.read(1))
    except (OSError, ValueError):
        return True
