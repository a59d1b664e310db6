"""Footer checks that must run before pyarrow looks at a column chunk's metadata.

pyarrow (25.x) validates a column chunk's size statistics (parquet.thrift `SizeStatistics`: the
repetition and definition level histograms) while building its `ColumnChunkMetaData`, and a
mismatch is thrown through a destructor-safe boundary: `std::terminate`, the whole worker process
aborts ("Definition level histogram size mismatch"), no Python exception to catch. One damaged
byte in an untrusted footer would then kill a Beam worker again on every retry. The footer is
decoded here with the Thrift compact reader of parquet_pages and each histogram's length is
checked against the column's levels from the schema (max level + 1, or empty), so such a row
group becomes rejected rows instead.
"""
from __future__ import annotations

from typing import Any, BinaryIO

from pipelines.sources.parquet_pages import PageError, read_struct

MAX_FOOTER_BYTES = 64 << 20   # far above any real footer; larger is a hostile file (pyarrow refuses it too)

# parquet.thrift field ids
_SCHEMA, _ROW_GROUPS = 2, 4                   # FileMetaData
_REPETITION, _CHILDREN = 3, 5                 # SchemaElement
_COLUMNS = 1                                  # RowGroup
_META = 3                                     # ColumnChunk.meta_data
_SIZE_STATS = 16                              # ColumnMetaData.size_statistics
_REP_HISTOGRAM, _DEF_HISTOGRAM = 2, 3         # SizeStatistics
_REQUIRED, _REPEATED = 0, 2


def _leaf_levels(schema: list[Any]) -> list[tuple[int, int]]:
    """(max repetition level, max definition level) of each leaf column, in file order."""
    leaves: list[tuple[int, int]] = []

    def walk(i: int, rep: int, dfn: int, depth: int) -> int:
        if depth > 64 or i >= len(schema) or not isinstance(schema[i], dict):
            raise PageError("footer schema is malformed")
        node = schema[i]
        kind = node.get(_REPETITION)
        if depth > 0:   # the root element carries no level
            rep += kind == _REPEATED
            dfn += kind != _REQUIRED and kind is not None
        children = node.get(_CHILDREN)
        if not isinstance(children, int) or children <= 0:
            leaves.append((rep, dfn))
            return i + 1
        i += 1
        for _ in range(children):
            i = walk(i, rep, dfn, depth + 1)
        return i

    if schema:
        walk(0, 0, 0, 0)
    return leaves


def _footer(stream: BinaryIO) -> dict[int, Any] | None:
    """The decoded FileMetaData, or None when the tail is not a plain (unencrypted) Parquet footer."""
    stream.seek(0, 2)
    size = stream.tell()
    if size < 12:
        return None
    stream.seek(size - 8)
    tail = stream.read(8)
    length = int.from_bytes(tail[:4], "little")
    if tail[4:] != b"PAR1" or length <= 0 or length > min(size - 12, MAX_FOOTER_BYTES):
        return None   # pyarrow refuses these itself, with a catchable error
    stream.seek(size - 8 - length)
    return read_struct(stream.read(length))[0]


def unsafe_row_groups(stream: BinaryIO) -> tuple[str | None, dict[int, str]]:
    """(reason for every row group, {row group: reason}) for groups pyarrow cannot be trusted with.

    Histogram lengths must be 0 or the column's max level + 1. A footer that is not valid Thrift
    (pyarrow's decoder accepts some of those) is damaged as a whole: the first item says why."""
    try:
        meta = _footer(stream)
        if meta is None:   # not a plain footer: pyarrow's own (catchable) error decides
            return None, {}
        groups = meta.get(_ROW_GROUPS)
        groups = groups if isinstance(groups, list) else []
        levels = _leaf_levels(meta.get(_SCHEMA) or [])
    except (PageError, EOFError, RecursionError) as e:
        return f"unreadable_parquet: footer is not valid Thrift ({type(e).__name__}: {e})", {}
    except (OSError, ValueError):
        return None, {}
    unsafe: dict[int, str] = {}
    for g, group in enumerate(groups):
        columns = group.get(_COLUMNS) if isinstance(group, dict) else None
        for c, chunk in enumerate(columns if isinstance(columns, list) else []):
            meta_data = chunk.get(_META) if isinstance(chunk, dict) else None
            stats = meta_data.get(_SIZE_STATS) if isinstance(meta_data, dict) else None
            if not isinstance(stats, dict):
                continue
            rep, dfn = levels[c] if c < len(levels) else (-1, -1)
            for field, level, name in ((_REP_HISTOGRAM, rep, "repetition"), (_DEF_HISTOGRAM, dfn, "definition")):
                histogram = stats.get(field)
                if isinstance(histogram, list) and histogram and len(histogram) != level + 1:
                    unsafe.setdefault(g, f"unreadable_parquet: row group {g} footer: column {c} {name} level "
                                         f"histogram has {len(histogram)} entries, the schema allows {level + 1}")
    return None, unsafe
