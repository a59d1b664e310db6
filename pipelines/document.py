"""The one record every reader yields and every stage passes on.

A `Document` is kept data; a `Rejected` is the same record plus why and where it
was dropped, so nothing leaves the pipeline without a trace (the curate stage, README.md).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

# Rejected records keep at most this much text: enough to inspect, never a
# 100 MB line copied into rejected/.
MAX_REJECTED_TEXT_CHARS = 64 * 1024


def doc_id(source: str, key: str) -> str:
    """Stable id: the same raw record always gets the same id, on any worker.

    Readers key documents by place, "<file relative to ROOT>#<line N | row N | ...>", which is
    unique within a job; the user's own id (which may repeat: ids restart per file in real exports)
    travels in meta["original_id"] and is never used to join or merge documents."""
    digest = hashlib.sha256(f"{source}\x00{key}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:24]


def meta_json(meta: dict[str, Any], default=None) -> str:
    """`meta` as strict JSON text (no NaN/Infinity tokens, which JSON does not have): a non-finite float
    that came in through a lenient reader (Python's json accepts NaN) is written as its name, a string."""
    try:
        return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=default, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(meta), sort_keys=True, ensure_ascii=False, default=default, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Document:
    id: str
    source: str
    text: str
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """Parquet row: `meta` travels as a JSON string so the schema stays fixed."""
        return {"id": self.id, "source": self.source, "text": self.text,
                "meta": meta_json(self.meta)}

    def reject(self, reason: str, stage: str) -> "Rejected":
        return Rejected(self.id, self.source, self.text[:MAX_REJECTED_TEXT_CHARS],
                        self.meta, reason, stage)


@dataclasses.dataclass(frozen=True)
class Rejected:
    id: str
    source: str
    text: str
    meta: dict[str, Any]
    reason: str   # short machine-readable key first, detail after a colon: "max_line_length: 1520 > 1000"
    stage: str    # read | filter | verify | decontaminate | dedup

    @property
    def reason_key(self) -> str:
        """The part before ':' groups counters and report rows."""
        return self.reason.split(":", 1)[0].strip()

    def to_row(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "text": self.text[:MAX_REJECTED_TEXT_CHARS],
                "meta": meta_json(self.meta, default=str),
                "reason": self.reason, "stage": self.stage}


def rejected_input(source: str, path: str, locator: str, reason: str, raw: bytes | str = b"",
                   meta: dict[str, Any] | None = None) -> Rejected:
    """A record for input that never became a Document (bad bytes, broken JSON, ...).

    Its id hashes `path#locator`, the same key a Document from that place gets, so ids stay unique
    in a job; `meta` adds fields (e.g. the Parquet row) to {"path", "locator"}."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return Rejected(doc_id(source, f"{path}#{locator}"), source, text[:MAX_REJECTED_TEXT_CHARS],
                    {"path": path, "locator": locator, **(meta or {})}, reason, "read")


def first_reason(doc: Document, rules, *args) -> str | None:
    """The first rule's reason (`rule(doc, *args)`), or None when every rule passes.

    The one loop behind every filter list (code rules, prose rules, curate's checks);
    exceptions propagate so the caller decides how an error is counted."""
    for rule in rules:
        reason = rule(doc, *args)
        if reason:
            return str(reason)
    return None
