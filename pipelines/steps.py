"""The one generic Beam step that applies `(doc) -> None | reason` checks and counts what they drop.

Used for the source filters, synthetic verification and decontamination alike
(pure per-document functions, one DoFn around them). Documents that
pass every check leave on the main output `kept`; the first failing check turns
a document into a `Rejected(stage=...)` on the tagged output "rejected". A check
that raises never stops the job: the document becomes Rejected with reason
"error: <ExcType>: <message>" and counts as an error.

Counters (namespace "curate"): "<source>/rejected/<reason key>" per reject,
"<source>/errors" per exception.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Union

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipelines.document import Document, Rejected, first_reason

NAMESPACE = "curate"
REJECTED = "rejected"
ERROR_KEY = "error"

Check = Callable[[Document], Union[str, None]]
# A factory maps a source tag to its ordered checks: bare functions or (step name, function) pairs,
# as pipelines.sources.filters_for returns them (from the family registry). It runs on the worker, once per source.
CheckFactory = Callable[[str], Sequence[Union[Check, tuple[str, Check]]]]


def error_reason(exc: BaseException) -> str:
    """Reason text for a check that raised; one line, bounded."""
    message = " ".join(str(exc).split())[:500]
    return f"{ERROR_KEY}: {type(exc).__name__}: {message}"


def is_error(rejected: Rejected) -> bool:
    return rejected.reason_key == ERROR_KEY


class _ApplyChecksFn(beam.DoFn):
    def __init__(self, stage: str, factory: CheckFactory):
        self.stage, self.factory = stage, factory

    def setup(self):
        self._checks: dict[str, list[Check] | BaseException] = {}
        self._counters: dict[str, beam.metrics.metricbase.Counter] = {}

    def _count(self, name: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
        counter.inc()

    def _checks_for(self, source: str) -> list[Check] | BaseException:
        if source not in self._checks:
            try:
                built = self.factory(source)
                self._checks[source] = [c[1] if isinstance(c, tuple) else c for c in built]
            except Exception as exc:  # a bad factory rejects that source's docs loudly, no crash
                logging.error("%s: cannot build checks for source %r: %r", self.stage, source, exc)
                self._checks[source] = exc
        return self._checks[source]

    def process(self, doc: Document | Rejected) -> Iterator:
        if isinstance(doc, Rejected):   # already rejected (and counted) upstream: pass it on
            yield TaggedOutput(REJECTED, doc)
            return
        checks = self._checks_for(doc.source)
        try:
            if isinstance(checks, BaseException):
                raise checks
            reason = first_reason(doc, checks)
        except Exception as exc:
            self._count(f"{doc.source}/errors")
            yield TaggedOutput(REJECTED, doc.reject(error_reason(exc), self.stage))
            return
        if reason is None:
            yield doc
        else:
            rejected = doc.reject(reason, self.stage)
            self._count(f"{doc.source}/rejected/{rejected.reason_key}")
            yield TaggedOutput(REJECTED, rejected)


class ApplyChecks(beam.PTransform):
    """Documents -> DoOutputsTuple(kept=Documents, rejected=Rejected with `stage`).

    `reshuffle=True` puts a Reshuffle in front so slow checks (sandboxed test
    runs) spread over workers instead of staying fused to the file reader.
    """

    def __init__(self, stage: str, factory: CheckFactory, reshuffle: bool = False, label: str | None = None):
        super().__init__(label)
        self.stage, self.factory, self.reshuffle = stage, factory, reshuffle

    def expand(self, docs):
        if self.reshuffle:
            docs = docs | "Spread over workers" >> beam.Reshuffle()
        return docs | "Apply checks" >> beam.ParDo(_ApplyChecksFn(self.stage, self.factory)).with_outputs(
            REJECTED, main="kept")

