"""The Beam step around `pipelines.redact.redact`: counts what it replaced, per source and kind.

Counters (namespace "curate"): "<source>/pii/<kind>" spans replaced, "<source>/pii_documents"
documents with any finding, and under --pii reject "<source>/rejected/pii" (the record goes to
rejected/ with its text already redacted, so no secret is copied into the outputs either way). A
detector that raises turns that one document into an error record ("<source>/errors"), never a
crashed job.
"""
from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipelines.document import Document, Rejected
from pipelines.redact import PiiConfig, reason, redact
from pipelines.steps import NAMESPACE, REJECTED, error_reason

STAGE = "pii"


class _RedactFn(beam.DoFn):
    def __init__(self, cfg: PiiConfig):
        self.cfg = cfg

    def setup(self):
        self._counters: dict[str, object] = {}

    def _count(self, name: str, n: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
        counter.inc(n)

    def process(self, doc: Document | Rejected) -> Iterator:
        if isinstance(doc, Rejected):
            yield TaggedOutput(REJECTED, doc)
            return
        try:
            out, findings = redact(doc, self.cfg)
        except Exception as exc:   # one bad document, not the job
            self._count(f"{doc.source}/errors")
            yield TaggedOutput(REJECTED, doc.reject(error_reason(exc), STAGE))
            return
        if findings:
            self._count(f"{doc.source}/pii_documents")
            for kind, n in findings.items():
                self._count(f"{doc.source}/pii/{kind}", n)
            if self.cfg.mode == "reject":
                self._count(f"{doc.source}/rejected/pii")
                yield TaggedOutput(REJECTED, out.reject(reason(findings), STAGE))
                return
        yield out


class Redact(beam.PTransform):
    """Documents -> DoOutputsTuple(kept=Documents (redacted), rejected=Rejected)."""

    def __init__(self, cfg: PiiConfig, label: str | None = None):
        super().__init__(label)
        self.cfg = cfg

    def expand(self, docs):
        return docs | "Redact" >> beam.ParDo(_RedactFn(self.cfg)).with_outputs(REJECTED, main="kept")
