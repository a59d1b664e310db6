"""The Beam step: redacted documents on the main output, rejects and errors on "rejected", counters."""
import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from pipelines.document import Document, Rejected
from pipelines.redact import PiiConfig
from pipelines.redact.step import Redact

KEY = "AKIA" + "Q3X7ZP2LMN4RT6WB"


def _run(docs, cfg):
    p = beam.Pipeline()
    out = p | beam.Create(docs) | Redact(cfg)
    kept = out.kept | "kept" >> beam.Map(lambda d: (d.id, d.text, d.meta.get("pii")))
    rejected = out.rejected | "rej" >> beam.Map(lambda r: (r.id, r.stage, r.reason[:16], KEY in str(r.text)))
    return p, kept, rejected


def test_redact_mode_counts_and_passes_rejected_and_errors_through():
    docs = [Document("a", "code", f'k = "{KEY}"\n'), Document("b", "code", "print(1)\n"),
            Document("c", "code", b"k = 1"),   # not text: the detector raises, the job does not
            Rejected("d", "code", "x", {}, "max_line_length: 2000 > 1000", "filter")]
    p, kept, rejected = _run(docs, PiiConfig())
    assert_that(kept, equal_to([("a", 'k = "<KEY>"\n', {"key": 1}), ("b", "print(1)\n", None)]), label="kept")
    assert_that(rejected, equal_to([("c", "pii", "error: TypeError", False),
                                    ("d", "filter", "max_line_length:", False)]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    counters = {m.key.metric.name: m.committed
                for m in result.metrics().query(MetricsFilter().with_namespace("curate"))["counters"]}
    assert counters == {"code/pii_documents": 1, "code/pii/key": 1, "code/errors": 1}


def test_reject_mode_rejects_with_reason_and_redacted_text():
    p, kept, rejected = _run([Document("a", "code", f'k = "{KEY}"\n')], PiiConfig(mode="reject"))
    assert_that(kept, equal_to([]), label="kept")
    assert_that(rejected, equal_to([("a", "pii", "pii: key=1", False)]), label="rejected")
    p.run().wait_until_finish()
