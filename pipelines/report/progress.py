"""Progress lines for long runs: "<label>: <source> N documents (X docs/s)" every so often.

Beam counters only show up when a job ends (DirectRunner) or in the Dataflow UI; a local
curate over a few GB otherwise runs silent for an hour. `LogProgress` is a pass-through
step: per DoFn instance (one per worker thread, kept across bundles) it counts elements by
source and, at most every `every_seconds`, logs the running totals and rates through
Python logging (logger "pipelines.report.progress", INFO). Cost per element: one dict update and
one monotonic clock read. On Dataflow, INFO lines go to Cloud Logging per worker.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import apache_beam as beam

LOGGER_NAME = "pipelines.report.progress"
_log = logging.getLogger(LOGGER_NAME)


def source_of(element: Any) -> str:
    """The source tag of a Document/Rejected, a row dict, or a (source, value) pair."""
    source = getattr(element, "source", None)
    if source is None and isinstance(element, dict):
        source = element.get("source")
    if source is None and isinstance(element, tuple) and len(element) == 2 and isinstance(element[0], str):
        source = element[0]
    return str(source) if source is not None else "?"


def show_progress() -> None:
    """Let progress lines through a root logger configured at WARNING (CLI entry points call this)."""
    _log.setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING)


class _LogProgressFn(beam.DoFn):
    def __init__(self, label: str, every_seconds: float, key: Callable[[Any], str]):
        self.label, self.every_seconds, self.key = label, every_seconds, key

    def setup(self):
        self._counts: dict[str, int] = {}
        self._start = self._last = None   # rates count from the first element, not from worker start

    def process(self, element):
        source = self.key(element)
        self._counts[source] = self._counts.get(source, 0) + 1
        now = time.monotonic()
        if self._start is None:
            self._start = self._last = now
        if now - self._last >= self.every_seconds:
            self._last = now
            self._report(now)
        yield element

    def teardown(self):
        if getattr(self, "_counts", None):
            self._report(time.monotonic())

    def _report(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        for source, n in sorted(self._counts.items()):
            _log.info("%s: %s %d documents (%.1f docs/s)", self.label, source, n, n / elapsed)


class LogProgress(beam.PTransform):
    """Pass-through step that logs per-source document counts and rates every `every_seconds`."""

    def __init__(self, label: str, every_seconds: float = 30.0, key: Callable[[Any], str] = source_of):
        super().__init__()
        if every_seconds < 0:
            raise ValueError(f"every_seconds must be >= 0, got {every_seconds}")
        self.progress_label, self.every_seconds, self.key = label, every_seconds, key

    def expand(self, pcoll):
        return pcoll | "Log progress" >> beam.ParDo(_LogProgressFn(self.progress_label, self.every_seconds,
                                                                   self.key))
