"""Synthetic Python problems: {"id", "prompt", "solution", "tests"} -> `synthetic` documents.

The text is what the model trains on (prompt + solution); the tests travel in meta["tests"]
and meta["prompt_chars"] marks where the solution starts, so pipelines.verify.synthetic runs exactly
the solution against them before it is kept (without storing the text twice).
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

from pipelines.document import Document, Rejected
from pipelines.sources.jsonl import field, parse_records
from pipelines.sources.limits import ReadLimits, checked_document

FAMILY = "synthetic"
SOURCE = "synthetic"
PATTERNS = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst")


def _record(obj: dict, lineno: int, path: str, limits: ReadLimits) -> Document | Rejected:
    task_id = str(field(obj, "id", (str, int)))
    prompt = field(obj, "prompt")
    solution = field(obj, "solution")
    tests = field(obj, "tests")
    meta = {"task_id": task_id, "tests": tests, "prompt_chars": len(prompt), "file": path, "line": lineno}
    if obj.get("entry_point"):
        meta["entry_point"] = str(obj["entry_point"])
    return checked_document(SOURCE, task_id, prompt + "\n" + solution, meta, limits)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> Iterator[Document | Rejected]:
    return parse_records(stream, path, SOURCE, limits, _record)
