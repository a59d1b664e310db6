"""A tiny raw corpus in the real schemas, with known counts, for reader and ReadFamily tests."""
from __future__ import annotations

import gzip
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

STACK_SCHEMA = pa.schema([
    ("hexsha", pa.string()), ("size", pa.int64()), ("ext", pa.string()), ("lang", pa.string()),
    ("max_stars_repo_path", pa.string()), ("max_stars_repo_name", pa.string()),
    ("max_stars_repo_head_hexsha", pa.string()), ("max_stars_repo_licenses", pa.list_(pa.string())),
    ("max_stars_count", pa.int64()), ("licenses", pa.list_(pa.string())), ("content", pa.string()),
    ("avg_line_length", pa.float64()), ("max_line_length", pa.int64()), ("alphanum_fraction", pa.float64()),
])


def stack_row(i: int, lang: str = "Python", content: str | None = None, licenses=("MIT",)) -> dict:
    content = content if content is not None else f"def f{i}(x):\n    return x + {i}\n"
    return {"hexsha": f"{i:040x}", "size": len(content), "ext": "py", "lang": lang,
            "max_stars_repo_path": f"src/m{i}.py", "max_stars_repo_name": f"org/repo{i}",
            "max_stars_repo_head_hexsha": "f" * 40, "max_stars_repo_licenses": list(licenses),
            "max_stars_count": i or None, "licenses": list(licenses), "content": content,
            "avg_line_length": 20.0, "max_line_length": 30, "alphanum_fraction": 0.7}


def stack_parquet(rows: list[dict], row_group_size: int = 1000) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=STACK_SCHEMA), sink, row_group_size=row_group_size)
    return sink.getvalue()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def patch_footer_sizes(data: bytes, true_sizes: list[int], claimed: int) -> bytes:
    """The file with every thrift varint equal to one of `true_sizes` in its footer replaced by `claimed`.

    The footer is thrift compact protocol: i32/i64 fields are zigzag varints, so a size n is stored as
    varint(2n). Footer length (the 4 bytes before the trailing PAR1) is rewritten to match.
    """
    assert data[-4:] == b"PAR1"
    length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - length:-8]
    for size in true_sizes:
        old, new = _varint(2 * size), _varint(2 * claimed)
        assert old in footer, size
        footer = footer.replace(old, new)
    return data[:-8 - length] + footer + len(footer).to_bytes(4, "little") + b"PAR1"


def footer_lie_parquet(value_bytes: int, claimed: int = 1000) -> bytes:
    """One Stack-shaped row holding `value_bytes` of 'a' (zstd: a few KB on disk), footer claiming `claimed` bytes."""
    table = pa.table({"content": ["a" * value_bytes], "lang": ["Python"], "licenses": [["MIT"]]})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    group = meta.row_group(0)
    sizes = [group.total_byte_size] + [group.column(i).total_uncompressed_size for i in range(group.num_columns)
                                       if group.column(i).total_uncompressed_size > value_bytes // 2]
    return patch_footer_sizes(data, sizes, claimed)


def jsonl(records: list) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def notebook(cells: list[tuple[str, str]], nbformat: int = 4) -> dict:
    return {"nbformat": nbformat, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
            "cells": [{"cell_type": kind, "metadata": {}, "source": src,
                       **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for kind, src in cells]}


POSTS = b"""<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" AcceptedAnswerId="3" Score="5" Title="Sort a list?" Body="&lt;p&gt;How do I sort &lt;code&gt;xs&lt;/code&gt;?&lt;/p&gt;" Tags="&lt;python&gt;" CreationDate="2020-01-01T00:00:00.000" />
  <row Id="2" PostTypeId="2" ParentId="1" Score="9" Body="&lt;p&gt;Use sorted:&lt;/p&gt;&lt;pre&gt;&lt;code&gt;ys = sorted(xs)&#xA;&lt;/code&gt;&lt;/pre&gt;" />
  <row Id="3" PostTypeId="2" ParentId="1" Score="2" Body="&lt;p&gt;Call &lt;code&gt;xs.sort()&lt;/code&gt;.&lt;/p&gt;" />
  <row Id="4" PostTypeId="1" Score="1" Title="Unanswered" Body="&lt;p&gt;Anyone?&lt;/p&gt;" />
  <row Id="5" PostTypeId="2" ParentId="77" Score="1" Body="&lt;p&gt;lost&lt;/p&gt;" />
</posts>
"""

# family -> {relative path: bytes}; EXPECTED family -> (documents, rejected)
def files() -> dict[str, dict[str, bytes]]:
    return {
        "stack": {
            "stack/part-0.parquet": stack_parquet(
                [stack_row(0), stack_row(1, "Markdown", "# Title\n\nSome text.\n"),
                 stack_row(2, "COBOL", "IDENTIFICATION DIVISION.\n"),
                 stack_row(3, licenses=("GPL-3.0",)), stack_row(4, "JavaScript", "let x = 1;\n")]),
        },
        "slimpajama": {
            "slimpajama/chunk1.jsonl.zst": zstandard.ZstdCompressor().compress(jsonl([
                {"text": "A plain web page about cooking.", "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}},
                {"text": "An encyclopedia article.", "meta": {"redpajama_set_name": "RedPajamaWikipedia"}},
            ]) + b"{broken\n"),
            "slimpajama/chunk2.jsonl.gz": gzip.compress(jsonl([
                {"text": "A book chapter.", "meta": {"redpajama_set_name": "RedPajamaBook"}}])),
        },
        "commits": {
            "commits/c.jsonl": jsonl([
                {"commit": "a" * 40, "old_file": "x.py", "new_file": "x.py", "old_contents": "x = 1\n",
                 "new_contents": "x = 2\n", "subject": "Bump x", "message": "Bump x\n", "lang": "Python",
                 "license": "mit", "repos": "org/r"},
                {"commit": "b" * 40, "new_file": "y.py"}]),
        },
        "notebooks": {
            "notebooks/a.ipynb": json.dumps(notebook([("markdown", "# Plot"), ("code", "import math\nmath.pi")])).encode(),
            "notebooks/b.jsonl": jsonl([
                {"path": "nb/c.ipynb", "repo_name": "org/nb", "license": "mit",
                 "content": json.dumps(notebook([("code", "print('hi')")]))},
                {"path": "nb/d.ipynb", "repo_name": "org/nb", "license": "mit",
                 "content": json.dumps(notebook([("code", "x")], nbformat=3))}]),
        },
        "stackexchange": {"stackexchange/cooking.stackexchange.com/Posts.xml": POSTS},
        "synthetic": {"synthetic/s.jsonl": jsonl([
            {"id": "p1", "prompt": "Write add(a, b).", "solution": "def add(a, b):\n    return a + b\n",
             "tests": "assert add(1, 2) == 3\n"}])},
        "math": {"math/m.jsonl": jsonl([{"id": "m1", "text": "1 + 1 = 2"},
                                         {"problem": "What is 2 * 3?", "solution": "6"}])},
        "instruct": {"instruct/i.jsonl": jsonl([
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
            {"instruction": "Name a colour.", "context": "", "response": "Blue.", "category": "open_qa"}])},
    }


EXPECTED = {  # family -> (documents, rejected)
    "stack": (3, 2),          # Python, Markdown, JavaScript kept; COBOL not selected; GPL not permissive
    "slimpajama": (3, 1),     # broken JSON line
    "commits": (1, 1),        # missing new_contents
    "notebooks": (2, 1),      # nbformat 3
    "stackexchange": (2, 1),  # orphan answer
    "synthetic": (1, 0),
    "math": (2, 0),
    "instruct": (2, 0),
}


def write_local(root: str) -> str:
    for family_files in files().values():
        for rel, data in family_files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
    return root
