"""Hostile raw inputs written into a temp ROOT in the real family layout (nothing large is committed).

`write_hostile_root(root, scale)` writes one file per case and returns the cases, each naming the
file (relative to ROOT), the stage that must stop it and the reject reason key it must get.
scale="fast" keeps every file small and is paired with `limits_for("fast")` (caps lowered so the
small files still cross them); scale="full" writes the real sizes (100 MB line, 50 MB notebook,
4 GiB-expanding bombs) against the default ReadLimits.

Bombs are tiny on disk: identical compressed frames (zstd) or members (gzip) of zeros are
concatenated, which every decoder reads as one long stream.
"""
from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import os
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from pipelines.sources import ReadLimits

MiB = 1 << 20
# The synthetic "read an environment variable" case looks for this variable; the test sets it in
# its own process, so the value appearing in any output would mean the sandbox leaked the env.
SECRET_ENV = "HOSTILE_CURATE_SECRET"
SECRET_VALUE = "s3cr3t-9f1c2e7a-never-in-output"


@dataclasses.dataclass(frozen=True)
class HostileCase:
    name: str                 # short case name (README table, test ids)
    path: str                 # file relative to ROOT
    stage: str                # read | filter | verify: where it must be stopped ("" = yields nothing)
    reasons: tuple[str, ...]  # acceptable reject reason keys (any one); () = the file yields no records


def limits_for(scale: str) -> ReadLimits:
    """Caps the job runs with: defaults at full scale, lowered so fast-scale files still cross them."""
    if scale == "full":
        return ReadLimits()
    return ReadLimits(max_file_bytes=8 * MiB, max_line_bytes=1 * MiB, max_doc_chars=1 * MiB,
                      max_notebook_bytes=1 * MiB, max_xml_bytes=8 * MiB)


def _write(root: pathlib.Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _jsonl(*objs: dict) -> bytes:
    return b"".join(json.dumps(o).encode("ascii") + b"\n" for o in objs)


def zstd_bomb(expanded_bytes: int, frame_bytes: int = 64 * MiB) -> bytes:
    frame = zstandard.ZstdCompressor(level=19).compress(b"\x00" * frame_bytes)
    return frame * max(1, expanded_bytes // frame_bytes)


def gzip_bomb(expanded_bytes: int, member_bytes: int = 16 * MiB) -> bytes:
    member = gzip.compress(b"\x00" * member_bytes, compresslevel=9, mtime=0)
    return member * max(1, expanded_bytes // member_bytes)


def _stack_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("content", pa.string()), ("lang", pa.string()), ("ext", pa.string()), ("size", pa.int64()),
        ("hexsha", pa.string()), ("max_stars_repo_path", pa.string()), ("max_stars_repo_name", pa.string()),
        ("max_stars_repo_licenses", pa.list_(pa.string())), ("max_stars_count", pa.int64())]))


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _stack_row(content: str, lang: str, hexsha: str, path: str) -> dict:
    return {"content": content, "lang": lang, "ext": path.rsplit(".", 1)[-1], "size": len(content),
            "hexsha": hexsha, "max_stars_repo_path": path, "max_stars_repo_name": "hostile/repo",
            "max_stars_repo_licenses": ["MIT"], "max_stars_count": 1}


def _notebook(cells: list[dict]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"language": "python", "name": "python3"}}}


LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE posts [\n <!ENTITY lol "lol">\n'
          + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b']>\n<posts>\n  <row Id="1" PostTypeId="1" Title="laughs" Body="&lol9;" Score="1"/>\n</posts>\n')
XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE posts [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
       b'<posts>\n  <row Id="1" PostTypeId="1" Title="xxe" Body="&xxe;" Score="1"/>\n</posts>\n')
XXE_DTD = (b'<?xml version="1.0"?>\n<!DOCTYPE posts SYSTEM "file:///etc/passwd">\n'
           b'<posts>\n  <row Id="1" PostTypeId="1" Title="dtd" Body="x" Score="1"/>\n</posts>\n')

# Synthetic solutions: each must end rejected in the verify stage with one of the reasons.
HOSTILE_SOLUTIONS = {
    "loop_forever": ("def f():\n    while True:\n        pass\n    return 1\nf()\n", ("cpu_limit", "timeout")),
    "fork_bomb": ("import os\ndef f():\n    while True:\n        os.fork()\nf()\n", ("sandbox_violation", "killed")),
    "allocate_10gb": ("def f():\n    return bytearray(10 * 1024 ** 3)\nf()\n", ("memory_limit",)),
    "write_to_root": ("def f():\n    with open('/hostile-curate-write', 'w') as h:\n        h.write('x')\n"
                      "    return 1\nf()\n", ("sandbox_violation",)),
    "open_socket": ("import socket\ndef f():\n    s = socket.socket()\n    s.connect(('127.0.0.1', 9))\n"
                    "    return 1\nf()\n", ("sandbox_violation",)),
    "read_env": (f"import os\ndef f():\n    return os.environ.get({SECRET_ENV!r}, '')\n", ("tests_failed",)),
    "kill_parent": ("import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1\nf()\n",
                    ("sandbox_violation",)),
}
GOOD_SOLUTION = ("def add(a, b):\n    return a + b\n", "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n")


def write_hostile_root(root: str | os.PathLike, scale: str = "fast") -> list[HostileCase]:
    """Write every hostile case under `root` (family folders); returns the cases."""
    if scale not in ("fast", "full"):
        raise ValueError(f"scale must be 'fast' or 'full', got {scale!r}")
    root = pathlib.Path(root)
    full = scale == "full"
    cases: list[HostileCase] = []

    def add(name, rel, data, stage, *reasons):
        _write(root, rel, data)
        cases.append(HostileCase(name, rel, stage, tuple(reasons)))

    # --- encoding and text sanity (read stage)
    add("invalid_utf8", "slimpajama/invalid_utf8.jsonl",
        b'{"text": "caf\xe9 \xff\xfe not utf-8", "meta": {"redpajama_set_name": "RedPajamaC4"}}\n',
        "read", "invalid_utf8")
    add("nul_bytes", "math/nul_bytes.jsonl", _jsonl({"id": "nul", "text": "Let x = 1.\u0000 Then x + 1 = 2."}),
        "read", "nul_bytes")
    add("lone_surrogate", "instruct/lone_surrogate.jsonl",
        b'{"prompt": "Explain \\ud800 this escape please", "response": "It is a lone surrogate \\udfff."}\n',
        "read", "invalid_unicode")
    # --- size attacks
    line_mb = 100 if full else 4
    add("single_line_document", "slimpajama/one_line.jsonl",
        b'{"text": "' + b"word " * (line_mb * MiB // 5) + b'", "meta": {"redpajama_set_name": "RedPajamaC4"}}\n',
        "read", "line_too_long")
    minified = ";".join(f"var v{i}=f{i % 97}(v{i - 1 if i else 0},{i})" for i in range(10_000))
    add("minified_10k_statements", "stack/minified.parquet",
        _parquet_bytes(_stack_table([_stack_row(minified, "JavaScript", "min0", "src/app.js")])),
        "filter", "max_line_length")
    bomb = 4 * 1024 * MiB if full else 1024 * MiB
    add("zstd_bomb", "slimpajama/bomb.jsonl.zst", zstd_bomb(bomb), "read", "decompression_limit")
    add("gzip_bomb", "commits/bomb.jsonl.gz", gzip_bomb(bomb if full else 256 * MiB), "read", "decompression_limit")
    # --- broken containers
    good = _parquet_bytes(_stack_table([_stack_row("def f():\n    return 1\n" * 50, "Python", f"t{i}", f"t{i}.py")
                                        for i in range(20)]))
    add("truncated_parquet", "stack/truncated.parquet", good[: len(good) // 2], "read", "unreadable_parquet")
    add("wrong_schema_parquet", "stack/wrong_schema.parquet",
        _parquet_bytes(pa.table({"body": ["print(1)"], "language": ["Python"]})), "read", "schema_mismatch")
    for rel in ("stack/empty.parquet", "slimpajama/empty.jsonl", "commits/empty.jsonl", "notebooks/empty.ipynb",
                "stackexchange/empty.stackexchange.com/Posts.xml", "synthetic/empty.jsonl"):
        add(f"empty_{rel.split('/')[0]}", rel, b"", "")
    # --- XML attacks
    add("billion_laughs", "stackexchange/laughs.stackexchange.com/Posts.xml", LAUGHS, "read", "xml_entities_forbidden")
    add("external_entity", "stackexchange/xxe.stackexchange.com/Posts.xml", XXE, "read", "xml_entities_forbidden")
    add("external_dtd", "stackexchange/dtd.stackexchange.com/Posts.xml", XXE_DTD, "read", "xml_entities_forbidden")
    # --- notebooks
    add("notebook_invalid_json", "notebooks/invalid.ipynb",
        b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": "print(1)"', "read", "malformed_notebook")
    png = base64.b64encode(os.urandom((50 if full else 3) * MiB * 3 // 4)).decode("ascii")
    add("notebook_huge_outputs", "notebooks/huge_outputs.ipynb", json.dumps(_notebook([
        {"cell_type": "markdown", "metadata": {}, "source": "# Plot\nA figure of the data."},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "plot()",
         "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"image/png": png}}]}])).encode(),
        "read", "notebook_too_large")
    # --- synthetic solutions that attack the verifier
    for name, (solution, reasons) in HOSTILE_SOLUTIONS.items():
        tests = f"assert f() == {SECRET_VALUE!r}\n" if name == "read_env" else "assert f() == 1\n"
        add(f"synthetic_{name}", f"synthetic/{name}.jsonl",
            _jsonl({"id": f"hostile-{name}", "prompt": f"# Task {name}: write f().", "solution": solution,
                    "tests": tests}), "verify", *reasons)
    # A well-behaved problem next to the hostile ones: the job still keeps good data.
    _write(root, "synthetic/good.jsonl", _jsonl({"id": "good-add", "prompt": "# Write add(a, b).",
                                                 "solution": GOOD_SOLUTION[0], "tests": GOOD_SOLUTION[1]}))
    return cases
