import logging
import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.document import Document
from pipelines.report.progress import LOGGER_NAME, LogProgress, source_of

LINE = re.compile(r"^read: (\w+) (\d+) documents \((\d+\.\d) docs/s\)$")


def test_progress_lines_count_per_source_and_pass_elements_through(caplog):
    docs = [Document(f"d{i}", "code" if i % 3 else "text", f"text {i}", {}) for i in range(12)]
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    with beam.Pipeline("DirectRunner") as p:
        out = (p | beam.Create(docs) | "progress" >> LogProgress("read", every_seconds=0)
               | beam.Map(lambda d: d.id))
        assert_that(out, equal_to([d.id for d in docs]))
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    parsed = [LINE.match(line) for line in lines]
    assert lines and all(parsed), lines
    final = {}
    for m in parsed:
        source, n = m.group(1), int(m.group(2))
        assert n >= final.get(source, 0)         # running totals never go back
        final[source] = n
    assert final == {"code": 8, "text": 4}


def test_long_interval_logs_only_the_final_totals(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    with beam.Pipeline("DirectRunner") as p:
        _ = p | beam.Create([("code", 1)] * 5) | LogProgress("tokenize", every_seconds=3600)
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert all(line.startswith("tokenize: code ") for line in lines)
    assert len(lines) <= 1   # only teardown's summary, when the runner calls teardown


def test_source_of_each_element_shape_and_bad_interval():
    assert source_of(Document("a", "math", "x", {})) == "math"
    assert source_of({"id": "a", "source": "text"}) == "text"
    assert source_of(("code", (1, "a", 3, b""))) == "code"
    assert source_of(42) == "?"
    with pytest.raises(ValueError, match="every_seconds"):
        LogProgress("x", every_seconds=-1)
