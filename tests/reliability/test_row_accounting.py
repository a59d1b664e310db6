"""The conservation check counts rows: every input row of every format ends kept, rejected with its reason,
or counted as a duplicate or error, and documents are never merged because they share a user's id.

One curate run over a ROOT with row-level damage in each format (13.3, 13.4 and the stricter
conservation check of issue 13); every assertion here failed on main at 00f01f7.
"""
from __future__ import annotations

import gzip
import io
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines import curate
from pipelines.document import doc_id
from tests.pipelines.sources import corpus

WORDS = ("river stone garden window paper music orange winter letter bridge candle forest silver "
         "engine basket pencil valley hammer mirror ladder").split()


def prose(seed: int, n: int = 60) -> str:
    """A deterministic sentence soup; different seeds share no 5-gram in practice."""
    return " ".join(WORDS[(seed * 7 + i * (seed % 5 + 3) + i // 3) % len(WORDS)] + str((seed * 31 + i) % 97)
                    for i in range(n)) + "."


def _ids_in_hash_order() -> tuple[str, str]:
    """(u, v) with doc_id(math, u) < doc_id(math, v): on main, a near-duplicate label u then hit every doc with id v."""
    u, v = "p", "q"
    return (u, v) if doc_id("math", u) < doc_id("math", v) else (v, u)


def bad_cell_parquet(rows: int = 1000, bad: int = 500, row_group_size: int = 1000) -> bytes:
    """`rows` Stack rows, one with invalid UTF-8 in `content` (pyarrow writes the bytes unchecked)."""
    table = pa.Table.from_pylist([corpus.stack_row(i, content=f"def f{i}(x):\n    return x * {i} + {i % 7}\n")
                                  for i in range(rows)], schema=corpus.STACK_SCHEMA)
    content = [s.encode() for s in table.column("content").to_pylist()]
    content[bad] = b"def bad():\n    return '\xff\xfe'\n"
    index = table.schema.get_field_index("content")
    table = table.set_column(index, "content", pa.array(content, pa.binary()).view(pa.string()))
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def damaged_page_parquet(rows: int = 300, row_group_size: int = 100, group: int = 1) -> bytes:
    """Stack rows whose `content` pages in row group `group` are overwritten with garbage."""
    data = bytearray(corpus.stack_parquet([corpus.stack_row(i, content=f"def g{i}():\n    return {i}\n")
                                           for i in range(rows)], row_group_size=row_group_size))
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(group)
    col = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == "content")
    start = col.dictionary_page_offset or col.data_page_offset
    for i in range(start + 20, start + col.total_compressed_size):
        data[i] = 0xAB
    return bytes(data)


def build_root(root: pathlib.Path) -> dict:
    """Row-level damage in each format; returns what the checks need."""
    u, v = _ids_in_hash_order()
    x = prose(1)
    x_near = x[:-1] + " extra."          # a near duplicate of x (one word added)
    y = prose(2)                          # unrelated
    files = {
        # 13.3: ids restart per file; x_near and y share the user id v
        "math/a.jsonl": corpus.jsonl([{"id": u, "text": x}, {"id": v, "text": x_near}]),
        "math/b.jsonl": corpus.jsonl([{"id": v, "text": y}, {"id": "m3", "text": prose(3)}]),
        # 13.4: one bad cell in a 1,000-row group; a damaged page in the middle group of another file
        "stack/bad_cell.parquet": bad_cell_parquet(),
        "stack/damaged_page.parquet": damaged_page_parquet(),
        # JSONL, plain / zst / gz: broken JSON, invalid UTF-8, NUL text, missing field, blank line (not a row)
        "slimpajama/train/chunk1/a.jsonl.zst": zstandard.ZstdCompressor().compress(
            corpus.jsonl([{"text": prose(10 + i), "meta": {"redpajama_set_name": "RedPajamaC4"}} for i in range(5)])
            + b"{broken\n" + b'{"text": "bad \xff utf8"}\n' + b"\n"),
        "commits/c.jsonl.gz": gzip.compress(corpus.jsonl([
            {"commit": "a" * 40, "old_file": "x.py", "new_file": "x.py", "old_contents": "x = 1\n",
             "new_contents": "x = 2\n", "subject": "Bump x", "message": "Bump x\n", "lang": "Python",
             "license": "mit", "repos": "org/r"},
            {"commit": "b" * 40, "new_file": "y.py"}]) + b"[1, 2]\n"),
        "instruct/i.jsonl": corpus.jsonl([{"prompt": "Name a colour.", "response": "Blue."},
                                          {"prompt": "No answer"}, {"messages": "not a list"}]),
        # notebooks: a broken .ipynb, a good one, and a jsonl of two (one nbformat 3)
        "notebooks/broken.ipynb": b'{"nbformat": 4, "cells": [',
        "notebooks/ok.ipynb": json.dumps(corpus.notebook([("markdown", "# Title"),
                                                          ("code", "import math\nprint(math.pi * 2)")])).encode(),
        "notebooks/more/rows.jsonl": corpus.jsonl([
            {"path": "a.ipynb", "repo_name": "o/r", "content": json.dumps(corpus.notebook([("code", "x = 1")]))},
            {"path": "b.ipynb", "repo_name": "o/r",
             "content": json.dumps(corpus.notebook([("code", "y")], nbformat=3))}]),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return {"x": x, "x_near": x_near, "y": y,
            # rows written per source tag (blank lines are not rows; an .ipynb file is one row)
            "in": {"math": 4, "code": 1300, "text": 7, "commits": 3, "instruct": 3, "notebooks": 4}}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    base = tmp_path_factory.mktemp("rows")
    planted = build_root(base / "raw")
    report = curate.run(["--input", str(base / "raw"), "--output", str(base / "out"), "--no-langid"])
    kept = {s: [r for p in sorted((base / "out" / "kept" / s).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
            for s in report["sources"]}
    rejected = {s: [r for p in sorted((base / "out" / "rejected" / s).glob("*.parquet"))
                    for r in pq.read_table(p).to_pylist()] for s in report["sources"]}
    return planted, report, kept, rejected


def test_every_input_row_is_counted_in(curated):
    planted, report, kept, rejected = curated
    got = {s: report["sources"][s]["in"] for s in planted["in"]}
    assert got == planted["in"]
    for source, row in report["sources"].items():
        assert row["invariant_ok"], source
        assert row["kept"] == len(kept[source]), source
        assert (row["rejected_total"] + row["exact_duplicates"] + row["near_duplicates"] + row["errors"]
                == len(rejected[source])), source


def _rows_of(records: list[dict], file: str) -> list[tuple[int, str]]:
    """(row, reason or "") of every kept or rejected record that came from `file`."""
    out = []
    for r in records:
        meta = json.loads(r["meta"])
        if meta.get("file", meta.get("path")) == file:
            out.append((meta["row"], r.get("reason") or ""))
    return sorted(out)


def test_one_bad_parquet_cell_costs_one_row(curated):
    """13.4: the 999 good rows of the damaged group are read; the bad one is rejected with its reason."""
    _, _, kept, rejected = curated
    rows = _rows_of(kept["code"] + rejected["code"], "stack/bad_cell.parquet")
    assert [row for row, _ in rows] == list(range(1000))
    read_rejects = [(row, reason.split(":")[0]) for row, reason in rows
                    if reason and not reason.startswith(("exact_duplicate", "near_duplicate"))
                    and reason.split(":")[0] in ("invalid_utf8", "unreadable_parquet")]
    assert read_rejects == [(500, "invalid_utf8")]


def test_damaged_page_rejects_each_lost_row(curated):
    """Rows of a group whose page is garbage are rejected one by one; the other groups are read."""
    _, _, kept, rejected = curated
    rows = _rows_of(kept["code"] + rejected["code"], "stack/damaged_page.parquet")
    assert [row for row, _ in rows] == list(range(300))
    lost = [row for row, reason in rows if reason.startswith("unreadable_parquet")]
    assert lost and set(lost) <= set(range(100, 200))


def test_documents_sharing_a_user_id_are_never_merged(curated):
    """13.3: y shares its user id with x_near, a near duplicate of x; y is kept, one of x / x_near is dropped."""
    planted, report, kept, rejected = curated
    kept_texts = {r["text"] for r in kept["math"]}
    assert planted["y"] in kept_texts
    assert len({planted["x"], planted["x_near"]} & kept_texts) == 1
    near = [r for r in rejected["math"] if r["reason"].startswith("near_duplicate")]
    assert [r["text"] for r in near] == [t for t in (planted["x"], planted["x_near"]) if t not in kept_texts]
    assert len({r["id"] for r in kept["math"]}) == len(kept["math"])
    ids = [json.loads(r["meta"]).get("original_id") for r in kept["math"] + rejected["math"]]
    assert sorted(i for i in ids if i) == sorted(["m3", *_ids_in_hash_order(), _ids_in_hash_order()[1]])
    assert report["sources"]["math"]["duplicate_ids"] == {"ids": 1, "documents": 2}
