"""Deterministic file writers: same rows in, same bytes out (no timestamps)."""
from __future__ import annotations

import io
import json
import os
import pathlib
from typing import Any, Iterable


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def json_line(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=False, allow_nan=False).encode("utf-8") + b"\n"


def jsonl_bytes(lines: Iterable[Any]) -> bytes:
    """Rows are dicts (serialised) or raw bytes (written as is: planted broken lines)."""
    out = io.BytesIO()
    for line in lines:
        out.write(line if isinstance(line, bytes) else json_line(line))
    return out.getvalue()


def zstd_bytes(data: bytes) -> bytes:
    import zstandard
    return zstandard.ZstdCompressor(level=19, write_content_size=True).compress(data)


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=256)
    return sink.getvalue()
