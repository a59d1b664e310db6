"""JSON Lines records with per-line rejects: one bad line never costs the rest of the file."""
from __future__ import annotations

import json
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources.limits import ReadLimits, iter_lines, scrub

_BOM = b"\xef\xbb\xbf"


class MissingField(Exception):
    """A required field is absent or has the wrong type; message is the reject reason."""


def iter_records(stream: BinaryIO, path: str, source: str, limits: ReadLimits
                 ) -> Iterator[tuple[int, dict[str, Any]] | Rejected]:
    """(line number, JSON object) per line, or a Rejected for a line that is not one.

    Blank lines are skipped (not records). Bytes are decoded as strict UTF-8 first:
    json.loads(bytes) would guess UTF-16/32 from the first bytes instead of refusing.
    """
    for lineno, raw in iter_lines(stream, limits.max_line_bytes):
        locator = f"line {lineno}"
        if raw is None:
            yield rejected_input(source, path, locator,
                                 f"line_too_long: line {lineno} > {limits.max_line_bytes} bytes")
            continue
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield rejected_input(source, path, locator,
                                 f"invalid_utf8: line {lineno} byte {e.start}", raw[:4096])
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, huge ints, deep nesting
            detail = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
            yield rejected_input(source, path, locator, f"malformed_json: line {lineno}: {detail}", text)
            continue
        if not isinstance(obj, dict):
            yield rejected_input(source, path, locator,
                                 f"malformed_json: line {lineno}: not an object", text)
            continue
        yield lineno, obj


RecordFn = Callable[[dict[str, Any], int, str, ReadLimits], "Document | Rejected"]


def parse_records(stream: BinaryIO, path: str, source: str, limits: ReadLimits,
                  to_record: RecordFn, fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    """The loop every JSONL reader shares: broken lines and missing fields become Rejected.

    `to_record(obj, lineno, path, limits)` turns one object into a Document (or a Rejected of
    its own); a MissingField it raises becomes a reject carrying the record as JSON. `fields`
    (reader field -> key in this export, from --field) renames keys before `to_record` sees them.
    """
    for item in iter_records(stream, path, source, limits):
        if isinstance(item, Rejected):
            yield item
            continue
        lineno, obj = item
        if fields:
            obj = rename_fields(obj, fields)
        try:
            yield to_record(obj, lineno, path, limits)
        except MissingField as e:
            yield rejected_input(source, path, f"line {lineno}", _mapped_reason(str(e), fields), raw_text(obj))


def rename_fields(obj: dict[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """`obj` with each mapped key's value under the reader's field name (the mapping wins)."""
    out = dict(obj)
    for name, key in fields.items():
        out.pop(name, None)
        if key in obj:
            out[name] = obj[key]
    return out


def _mapped_reason(reason: str, fields: Mapping[str, str] | None) -> str:
    """'missing_field: prompt' -> 'missing_field: prompt (read from question)' when prompt is mapped."""
    name = reason.split(":", 1)[1].strip().split(" ", 1)[0] if ":" in reason else ""
    if fields and name in fields:
        return f"{reason} (read from {fields[name]})"
    return reason


def field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...] = str, required: bool = True) -> Any:
    """obj[key] checked for type; raises MissingField("missing_field: key") when required and absent."""
    value = obj.get(key)
    if value is None:
        if required:
            raise MissingField(f"missing_field: {key}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MissingField(f"missing_field: {key} (wrong type {type(value).__name__})")
    return value


def raw_text(obj: dict[str, Any]) -> str:
    """The record as JSON, for the text of a Rejected."""
    return scrub(json.dumps(obj, ensure_ascii=False)[:65536])
