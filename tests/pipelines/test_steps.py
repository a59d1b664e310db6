"""ApplyChecks: kept on the main output, reasons on "rejected", exceptions become error records."""
import collections

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import steps
from pipelines.document import first_reason
from pipelines.document import Document, Rejected


def too_short(doc):
    return f"too_short: {len(doc.text)} < 5" if len(doc.text) < 5 else None


def no_x(doc):
    if "boom" in doc.text:
        raise ZeroDivisionError("division by zero in filter")
    return "has_x: found" if "x" in doc.text else None


def factory(source):
    if source == "broken":
        raise ValueError("no filters for broken")
    return [("length", too_short), no_x]


def test_first_reason_order():
    assert first_reason(Document("a", "code", "xy"), [too_short, no_x]) == "too_short: 2 < 5"
    assert first_reason(Document("a", "code", "hello"), [too_short, no_x]) is None
    assert steps.error_reason(ValueError("k\n  v")) == "error: ValueError: k v"


def test_apply_checks_counts_and_never_crashes():
    docs = [Document("1", "code", "fine words"), Document("2", "code", "ab"), Document("3", "code", "x marks"),
            Document("4", "code", "boom goes"), Document("5", "broken", "anything"),
            Rejected("6", "code", "t", {}, "language_not_selected: COBOL", "read")]
    p = test_pipeline.TestPipeline()
    out = p | beam.Create(docs) | steps.ApplyChecks("filter", factory)
    assert_that(out.kept | "kept ids" >> beam.Map(lambda d: d.id), equal_to(["1"]), label="kept")
    assert_that(out.rejected | "rejected" >> beam.Map(lambda r: (r.id, r.reason.split(":")[0], r.stage)),
                equal_to([("2", "too_short", "filter"), ("3", "has_x", "filter"), ("4", "error", "filter"),
                          ("5", "error", "filter"), ("6", "language_not_selected", "read")]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    counters = collections.Counter()
    for c in result.metrics().query(MetricsFilter().with_namespace("curate"))["counters"]:
        counters[c.key.metric.name] += c.committed
    assert counters == {"code/rejected/too_short": 1, "code/rejected/has_x": 1, "code/errors": 1,
                        "broken/errors": 1}
