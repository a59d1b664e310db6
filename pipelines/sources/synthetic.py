"""Synthetic Python problems: {"id", "prompt", "solution", "tests"} -> `synthetic` documents.

The text is what the model trains on (prompt + solution); the tests travel in meta["tests"]
and meta["prompt_chars"] marks where the solution starts, so pipelines.verify runs exactly
the solution against them before it is kept (without storing the text twice).
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources.jsonl import MissingField, field, iter_records, raw_text
from pipelines.sources.limits import ReadLimits, checked_document

FAMILY = "synthetic"
SOURCE = "synthetic"
PATTERNS = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst")


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> Iterator[Document | Rejected]:
    for item in iter_records(stream, path, SOURCE, limits):
        if isinstance(item, Rejected):
            yield item
            continue
        lineno, obj = item
        try:
            task_id = str(field(obj, "id", (str, int)))
            prompt = field(obj, "prompt")
            solution = field(obj, "solution")
            tests = field(obj, "tests")
        except MissingField as e:
            yield rejected_input(SOURCE, path, f"line {lineno}", str(e), raw_text(obj))
            continue
        meta = {"task_id": task_id, "tests": tests, "prompt_chars": len(prompt), "file": path, "line": lineno}
        if obj.get("entry_point"):
            meta["entry_point"] = str(obj["entry_point"])
        yield checked_document(SOURCE, task_id, prompt + "\n" + solution, meta, limits)
