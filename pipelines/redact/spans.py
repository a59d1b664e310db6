"""Found spans and how they are replaced: one placeholder per kind, the rest of the text untouched.

Detectors (pipelines/redact/pii.py, pipelines/redact/credentials.py) return `Span`s over the original
text; `resolve` keeps one span where several overlap (a URL password beats the e-mail-looking
`pass@host` inside it), and `apply` splices the placeholders in. Text outside the spans is copied
byte for byte, so a document without findings comes out as the very same string.
"""
from __future__ import annotations

import bisect
import dataclasses
from collections import Counter
from collections.abc import Iterable

# Kinds, in the order a tie between overlapping spans is decided (first wins).
KINDS = ("key", "password", "email", "ip")
PLACEHOLDERS = {"key": "<KEY>", "password": "<PASSWORD>", "email": "<EMAIL>"}
# Public IP addresses become one fixed private address of the same family: still an address in the
# text (config and logs keep their shape), never anybody's. Both are in ranges the detector keeps,
# so redacting twice changes nothing.
IPV4_PLACEHOLDER = "10.0.0.1"
IPV6_PLACEHOLDER = "fd00::1"


@dataclasses.dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    kind: str          # one of KINDS

    def placeholder(self, text: str) -> str:
        if self.kind == "ip":
            return IPV6_PLACEHOLDER if ":" in text[self.start:self.end] else IPV4_PLACEHOLDER
        return PLACEHOLDERS[self.kind]


def resolve(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans in text order; of overlapping ones the higher-priority kind, then the
    longer span, wins (deterministic for any input order; O(n log n) plus list inserts)."""
    rank = {k: i for i, k in enumerate(KINDS)}
    ordered = sorted(set(spans), key=lambda s: (rank[s.kind], -(s.end - s.start), s.start))
    starts: list[int] = []
    chosen: list[Span] = []   # sorted by start, pairwise disjoint
    for span in ordered:
        if span.end <= span.start:
            continue
        i = bisect.bisect_left(starts, span.start)
        if i > 0 and chosen[i - 1].end > span.start or i < len(chosen) and chosen[i].start < span.end:
            continue
        starts.insert(i, span.start)
        chosen.insert(i, span)
    return chosen


def apply(text: str, spans: list[Span]) -> str:
    """`text` with each (non-overlapping, sorted) span replaced by its placeholder."""
    if not spans:
        return text
    parts, at = [], 0
    for span in spans:
        parts += [text[at:span.start], span.placeholder(text)]
        at = span.end
    parts.append(text[at:])
    return "".join(parts)


def counts(spans: Iterable[Span]) -> dict[str, int]:
    """Findings per kind (what the document's meta and the counters record; never the value)."""
    return dict(sorted(Counter(s.kind for s in spans).items()))
