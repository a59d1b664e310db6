"""SlimPajama / RedPajama jsonl(.zst): {"text", "meta": {"redpajama_set_name"}} -> `text`.

Every record is read; dropping the GitHub and StackExchange sets is a curate filter
("slimpajama_set_excluded"), so the report shows how much they weighed.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources.jsonl import MissingField, field, iter_records, raw_text
from pipelines.sources.limits import ReadLimits, checked_document

FAMILY = "slimpajama"
SOURCE = "text"
PATTERNS = ("*.jsonl.zst", "*.jsonl", "*.jsonl.gz")


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> Iterator[Document | Rejected]:
    for item in iter_records(stream, path, SOURCE, limits):
        if isinstance(item, Rejected):
            yield item
            continue
        lineno, obj = item
        try:
            text = field(obj, "text")
            meta_in = field(obj, "meta", dict, required=False) or {}
        except MissingField as e:
            yield rejected_input(SOURCE, path, f"line {lineno}", str(e), raw_text(obj))
            continue
        set_name = meta_in.get("redpajama_set_name")
        meta = {"redpajama_set_name": set_name if isinstance(set_name, str) else None,
                "file": path, "line": lineno}
        yield checked_document(SOURCE, f"{path}#{lineno}", text, meta, limits)
