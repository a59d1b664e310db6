"""Every row of one Parquet row group, read in bounded memory and accounted for one by one.

`read_row_group` yields exactly `num_rows` items, (row, values) or (row, reason): a damaged file
costs the rows it damages, never the rows around them, and never more memory than the caps.

Memory (ReadLimits): before any page is decompressed, the real size of every page of every column
read is taken from the page headers (parquet_pages), not from the footer. A page over
`max_page_bytes` makes its column unreadable without decoding it. Rows are then decoded in batches
sized so that a batch cannot exceed `max_batch_bytes` (rows per batch = cap / sum over columns of
the largest page: one value never exceeds its page, dictionary values included); each decoded batch
is measured, and once a row group has decoded more than `max_file_bytes` the rest of its rows are
rejected. The Python copy (to_pylist) is made one batch at a time, so it is bounded the same way.

Recovery: a cell that does not convert (invalid UTF-8 in a string column) costs its row only
(required column) or leaves that value None (other columns). A column whose pages cannot be decoded
(corrupt compressed data, a failed page checksum, a garbled header) is found by reading each column
alone; the rest of the row group is then read without it (its values None) when it is optional, or
rejected row by row when it is required. Rows decoded before the failure are kept either way; rows
after a bad page of a required column are lost (a Parquet reader cannot skip to the next page), each
counted with its reason. Without compression or page checksums, overwritten bytes inside a page
cannot be told from data (no format-level check exists); the reader verifies checksums when present.
"""
from __future__ import annotations

import dataclasses
from typing import Any, BinaryIO, Iterator, Sequence

from pipelines.sources.limits import ReadLimits
from pipelines.sources.parquet_pages import PageError, column_chunk_pages

MAX_BATCH_ROWS = 1024
UNREADABLE = "__unreadable_columns__"   # key of a row dict: optional columns whose value was lost


def arrow_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa
    return (pa.ArrowException, OSError, ValueError, EOFError, IndexError)


@dataclasses.dataclass(frozen=True)
class GroupPlan:
    """How one row group is read: which columns, how many rows per batch, which columns are lost."""
    readable: tuple[str, ...]
    lost: dict[str, str]            # column -> reason (page too large, headers unreadable)
    batch_rows: int


def _top_level(path_in_schema: str) -> str:
    return path_in_schema.split(".", 1)[0]


def group_footer_problem(pf, group: int) -> str | None:
    """Why the footer's entry for row group `group` cannot be trusted, or None.

    pyarrow decodes footer strings (column paths, codec and type names) only when they are read,
    and raises UnicodeDecodeError for bytes that are not UTF-8: a damaged footer can hold such a
    string while the file still opens. Every string this reader uses is decoded here, once, so the
    damage costs the group's rows (each its own reject) instead of escaping as an exception."""
    column = -1
    try:
        meta = pf.metadata.row_group(group)
        for column in range(meta.num_columns):
            chunk = meta.column(column)
            chunk.path_in_schema, chunk.compression, chunk.physical_type   # noqa: B018 - decoded to check
    except UnicodeDecodeError as e:
        return (f"unreadable_parquet: row group {group} footer: column {column} metadata is not UTF-8 "
                f"(byte {e.start})")
    except arrow_errors() as e:
        return f"unreadable_parquet: row group {group} footer: {type(e).__name__}: {e}"
    return None


def plan_group(pf, stream: BinaryIO, group: int, columns: Sequence[str], limits: ReadLimits) -> GroupPlan:
    """Page sizes of `columns` in `group` from the page headers -> readable columns and batch size."""
    meta = pf.metadata.row_group(group)
    largest: dict[str, int] = {c: 0 for c in columns}
    lost: dict[str, str] = {}
    for i in range(meta.num_columns):
        chunk = meta.column(i)
        name = _top_level(chunk.path_in_schema)
        if name not in largest or name in lost:
            continue
        try:
            pages = column_chunk_pages(stream, chunk)
        except PageError as e:
            # The decoder stops at the same bad header: the pages before it are read (and bounded
            # by their sizes); the failure there is handled like any decoding error.
            if not e.pages:
                lost[name] = f"unreadable_parquet: {e}"
                continue
            pages = e.pages
        biggest = max((p.uncompressed for p in pages), default=0)
        if biggest > limits.max_page_bytes:
            lost[name] = (f"decompression_limit: column {name} has a page of {biggest} bytes > "
                          f"{limits.max_page_bytes} (page headers; the footer declares "
                          f"{chunk.total_uncompressed_size})")
            continue
        largest[name] = max(largest[name], biggest)
    per_row = max(1, sum(v for c, v in largest.items() if c not in lost))
    batch_rows = max(1, min(MAX_BATCH_ROWS, limits.max_batch_bytes // per_row))
    return GroupPlan(tuple(c for c in columns if c not in lost), lost, batch_rows)


def _to_python(column, name: str) -> tuple[list[Any], dict[int, str]]:
    """(values, {row in batch: reason}) of one Arrow column; a bad cell costs only itself."""
    try:
        return column.to_pylist(), {}
    except (UnicodeDecodeError, *arrow_errors()):
        values, bad = [], {}
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except UnicodeDecodeError as e:
                values.append(None)
                bad[i] = f"invalid_utf8: column {name} byte {e.start}"
            except arrow_errors() as e:
                values.append(None)
                bad[i] = f"unreadable_parquet: column {name}: {type(e).__name__}: {e}"
        return values, bad


def _batch_rows(batch, required: frozenset[str], lost: dict[str, str]
                ) -> Iterator[dict[str, Any] | str]:
    """Rows of one record batch as dicts (lost optional columns None), or a reason for a bad row."""
    n = batch.num_rows
    columns: dict[str, list[Any]] = {}
    row_reason: dict[int, str] = {}
    row_lost: dict[int, list[str]] = {}
    for name, column in zip(batch.schema.names, batch.columns):
        values, bad = _to_python(column, name)
        columns[name] = values
        for i, reason in bad.items():
            if name in required:
                row_reason.setdefault(i, reason)
            else:
                row_lost.setdefault(i, []).append(name)
    for i in range(n):
        if i in row_reason:
            yield row_reason[i]
            continue
        row = {name: values[i] for name, values in columns.items()}
        missing = sorted(set(lost) | set(row_lost.get(i, ())))
        if missing:
            row.update({name: None for name in lost})
            row[UNREADABLE] = missing
        yield row


def _failing_columns(pf, group: int, columns: Sequence[str], upto: int, batch_rows: int) -> dict[str, str]:
    """Columns that fail to decode within the first `upto` rows of `group`, read one at a time."""
    failing = {}
    for name in columns:
        seen = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=[name], row_groups=[group],
                                         use_threads=False):
                seen += batch.num_rows
                if seen >= upto:
                    break
        except arrow_errors() as e:
            failing[name] = f"unreadable_parquet: column {name}: {type(e).__name__}: {e}"
    return failing


def read_row_group(pf, stream: BinaryIO, group: int, columns: Sequence[str], required: Sequence[str],
                   limits: ReadLimits) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row within the group, row dict | reject reason) for each of the group's rows, in order."""
    total = pf.metadata.row_group(group).num_rows
    damaged = group_footer_problem(pf, group)
    if damaged is not None:
        for row in range(total):
            yield row, damaged
        return
    plan = plan_group(pf, stream, group, columns, limits)
    required_set = frozenset(required)
    lost = dict(plan.lost)
    done = 0
    decoded = 0
    while done < total:
        fatal = next((lost[c] for c in lost if c in required_set), None)
        readable = [c for c in plan.readable if c not in lost]
        if fatal is not None or not readable:
            reason = fatal or "unreadable_parquet: no readable column"
            for row in range(done, total):
                yield row, reason
            return
        position = 0
        try:
            for batch in pf.iter_batches(batch_size=plan.batch_rows, columns=readable, row_groups=[group],
                                         use_threads=False):
                start, position = position, position + batch.num_rows
                if position <= done:
                    continue   # decoded again after a column was dropped: already yielded
                size = batch.nbytes
                decoded += size
                if size > limits.max_batch_bytes or decoded > limits.max_file_bytes:
                    reason = (f"decompression_limit: row group {group} decoded {decoded} bytes "
                              f"(batch {size} bytes; caps {limits.max_batch_bytes} per batch, "
                              f"{limits.max_file_bytes} per row group)")
                    for row in range(done, total):
                        yield row, reason
                    return
                skip = done - start
                for offset, item in enumerate(_batch_rows(batch, required_set, lost)):
                    if offset >= skip:
                        yield start + offset, item
                done = position
            if done < total:   # the file holds fewer rows than its footer says
                for row in range(done, total):
                    yield row, f"unreadable_parquet: row group {group} ended after {done} of {total} rows"
            return
        except arrow_errors() as e:
            failing = _failing_columns(pf, group, readable, done + plan.batch_rows, plan.batch_rows)
            if not failing:   # not one column's fault: the rest of the group is unreadable
                reason = f"unreadable_parquet: row group {group}: {type(e).__name__}: {e}"
                for row in range(done, total):
                    yield row, reason
                return
            lost.update(failing)
