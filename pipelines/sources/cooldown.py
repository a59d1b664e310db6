"""Cooldown-only families: `math` and `instruct` jsonl (docs/paper.md, "Cooldown").

math:     {"id"?, "text"} or {"id"?, "problem", "solution"}
instruct: {"messages": [{"role", "content"}, ...]} or {"prompt", "response"} or
          Dolly v2 {"instruction", "context", "response", "category"}
Instruction records are rendered as "User: ...\n\nAssistant: ..." turns (the role name,
capitalised, then the content), one plain-text document per conversation.
"""
from __future__ import annotations

import types
from typing import Any, BinaryIO, Iterator, Mapping

from pipelines.document import Document, Rejected
from pipelines.sources.jsonl import MissingField, field, parse_records
from pipelines.sources.limits import ReadLimits, checked_document, document_key

_PATTERNS = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst")
_ROLE_NAMES = {"user": "User", "human": "User", "assistant": "Assistant", "gpt": "Assistant",
               "system": "System", "bot": "Assistant"}


def _original_id(obj: dict[str, Any]) -> str | None:
    """The record's own id, if it has one (kept in meta; ids repeat across files in real exports)."""
    value = obj.get("id")
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
        return str(value)
    return None


def _math_text(obj: dict[str, Any]) -> str:
    if "text" in obj:
        return field(obj, "text")
    if "problem" not in obj:
        raise MissingField("missing_field: text")
    return field(obj, "problem") + "\n\n" + field(obj, "solution")


def _turn(role: str, content: str) -> str:
    return f"{_ROLE_NAMES.get(role.lower(), role.capitalize())}: {content}"


def _instruct_text(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if "messages" in obj:
        messages = field(obj, "messages", list)
        turns = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise MissingField(f"missing_field: messages[{i}]")
            turns.append(_turn(field(m, "role"), field(m, "content")))
        return "\n\n".join(turns), {"format": "messages", "turns": len(turns)}
    if "instruction" in obj:  # Dolly v2
        user = field(obj, "instruction")
        context = field(obj, "context", required=False)
        if context:
            user += "\n\n" + context
        meta = {"format": "dolly", "category": field(obj, "category", required=False)}
        return _turn("user", user) + "\n\n" + _turn("assistant", field(obj, "response")), meta
    if "prompt" in obj:
        return (_turn("user", field(obj, "prompt")) + "\n\n"
                + _turn("assistant", field(obj, "response")), {"format": "prompt_response"})
    raise MissingField("missing_field: messages")


def _records(source: str, render):
    """to_record for parse_records: render(obj) -> (text, extra meta)."""
    def to_record(obj: dict, lineno: int, path: str, limits: ReadLimits) -> Document | Rejected:
        text, extra = render(obj)
        meta = {"file": path, "line": lineno, **extra}
        original = _original_id(obj)
        if original is not None:
            meta["original_id"] = original
        return checked_document(source, document_key(path, f"line {lineno}"), text, meta, limits)
    return to_record


def parse_math(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
               fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    return parse_records(stream, path, "math", limits, _records("math", lambda o: (_math_text(o), {})), fields)


def parse_instruct(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
                   fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    return parse_records(stream, path, "instruct", limits, _records("instruct", _instruct_text), fields)


# Reader objects for the family registry (pipelines/sources/__init__.py) (same attributes as a reader module).
MATH = types.SimpleNamespace(SOURCE="math", PATTERNS=_PATTERNS, parse=parse_math,
                             FIELDS=("id", "text", "problem", "solution"))
INSTRUCT = types.SimpleNamespace(SOURCE="instruct", PATTERNS=_PATTERNS,
                                 parse=parse_instruct,
                                 FIELDS=("id", "messages", "instruction", "context", "response", "category",
                                         "prompt"))
