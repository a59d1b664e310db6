"""Personal data and secrets out of the curated text: `redact(doc, cfg) -> (doc, findings)`.

Runs in curate after each family's filters and before verification, decontamination, exact and near
dedup (pipelines/curate.py), so two documents that differ only in a key are exact duplicates after it,
and before tokenize. Kinds and placeholders: e-mail -> `<EMAIL>`, public IPv4/IPv6 -> `10.0.0.1` /
`fd00::1`, keys and tokens -> `<KEY>`, passwords -> `<PASSWORD>` (pipelines/redact/spans.py); what is
kept on purpose is listed in pipelines/redact/pii.py and pipelines/redact/credentials.py. A document
with findings gets meta["pii"] = {kind: count}; one without is returned unchanged (the same object).
"""
from __future__ import annotations

import argparse
import dataclasses

from pipelines.document import Document
from pipelines.redact import spans as _spans
from pipelines.redact.pii import find_emails, find_ips
from pipelines.redact.credentials import find_secrets
from pipelines.redact.spans import KINDS, Span

MODES = ("off", "redact", "reject")

def default_sources() -> tuple[str, ...]:
    """Source tags redacted by default: every tag of each family whose registry line says `redact=True`
    (pipelines/sources/__init__.py: code, markup, commits, notebooks, stackexchange; not SlimPajama's
    published web text nor generated data). Read at call time, so a family registered at runtime counts."""
    from pipelines.sources import FAMILIES
    return tuple(tag for family in FAMILIES.values() if family.redact for tag in family.tags)


@dataclasses.dataclass(frozen=True)
class PiiConfig:
    mode: str = "redact"                       # off | redact | reject (documents with findings)
    sources: tuple[str, ...] | None = None     # source tags it applies to; None: default_sources()
    kinds: tuple[str, ...] = KINDS             # which kinds are looked for

    def applies_to(self, source: str) -> bool:
        if self.mode == "off":
            return False
        return source in (self.sources if self.sources is not None else default_sources())


def find(text: str, kinds: tuple[str, ...] = KINDS) -> list[Span]:
    """Resolved (non-overlapping, ordered) spans of the wanted kinds."""
    found: list[Span] = []
    if "key" in kinds or "password" in kinds:
        found += [s for s in find_secrets(text) if s.kind in kinds]
    if "email" in kinds:
        found += find_emails(text)
    if "ip" in kinds:
        found += find_ips(text)
    return _spans.resolve(found)


def redact_text(text: str, kinds: tuple[str, ...] = KINDS) -> tuple[str, dict[str, int]]:
    """(text with placeholders, {kind: count}); the text is returned as is when nothing is found."""
    found = find(text, kinds)
    return _spans.apply(text, found), _spans.counts(found)


def redact(doc: Document, cfg: PiiConfig = PiiConfig()) -> tuple[Document, dict[str, int]]:
    """The document with its findings replaced and counted in meta["pii"]; unchanged without findings."""
    if not cfg.applies_to(doc.source):
        return doc, {}
    text, findings = redact_text(doc.text, cfg.kinds)
    if not findings:
        return doc, {}
    return dataclasses.replace(doc, text=text, meta={**doc.meta, "pii": findings}), findings


def reason(findings: dict[str, int]) -> str:
    """Reject reason for --pii reject: kinds and counts, never the values."""
    return "pii: " + ",".join(f"{k}={n}" for k, n in sorted(findings.items()))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("personal data and secrets (pipelines/redact)")
    g.add_argument("--pii", choices=MODES, default=PiiConfig.mode,
                   help="redact (default): replace e-mails, public IPs, keys and passwords with placeholders "
                        "(<EMAIL>, 10.0.0.1/fd00::1, <KEY>, <PASSWORD>) and count them in meta['pii']; reject: "
                        "send documents with any finding to rejected/ (reason 'pii: kind=count', text "
                        "redacted); off: leave the text as it is")
    g.add_argument("--pii-sources", default=None, metavar="TAGS",
                   help="comma list of source tags to redact (default: the families marked redact=True in "
                        "pipelines/sources/__init__.py: " + ",".join(default_sources()) + "); '' for none")


def config_from_args(args: argparse.Namespace) -> PiiConfig:
    sources = None
    if args.pii_sources is not None:
        sources = tuple(s for s in args.pii_sources.split(",") if s)
        from tokens import sources as tags
        unknown = sorted(set(sources) - set(tags.names()))
        if unknown:
            raise SystemExit(f"curate: --pii-sources: unknown source tags {unknown}; expected some of "
                             f"{list(tags.names())}")
    return PiiConfig(mode=args.pii, sources=sources)


__all__ = ["default_sources", "MODES", "PiiConfig", "find", "redact", "redact_text", "reason",
           "add_arguments", "config_from_args"]
