"""SlimPajama / RedPajama jsonl(.zst): {"text", "meta": {"redpajama_set_name"}} -> `text`.

Every record is read; dropping the GitHub and StackExchange sets is a curate filter
("slimpajama_set_excluded"), so the report shows how much they weighed.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator, Mapping

from pipelines.document import Document, Rejected
from pipelines.sources.jsonl import field, parse_records
from pipelines.sources.limits import ReadLimits, checked_document, document_key

SOURCE = "text"
PATTERNS = ("*.jsonl.zst", "*.jsonl", "*.jsonl.gz")
FIELDS = ("text", "meta")


def _record(obj: dict, lineno: int, path: str, limits: ReadLimits) -> Document | Rejected:
    text = field(obj, "text")
    meta_in = field(obj, "meta", dict, required=False) or {}
    set_name = meta_in.get("redpajama_set_name")
    meta = {"redpajama_set_name": set_name if isinstance(set_name, str) else None,
            "file": path, "line": lineno}
    return checked_document(SOURCE, document_key(path, f"line {lineno}"), text, meta, limits)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
          fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    return parse_records(stream, path, SOURCE, limits, _record, fields)
