import copy
import struct

import pytest

from pipelines.report import funnel
from pipelines.report import chart
from tokens import sources as source_tags


def _report(n_sources=9):
    counters = {}
    for i in range(n_sources):
        s = sorted(source_tags.names())[i % len(source_tags.names())]
        counters.update({f"{s}/in": 1000 + i, f"{s}/rejected/max_line_length": 50 + i, f"{s}/rejected/langid": 30,
                         f"{s}/rejected/auto_generated": 5, f"{s}/rejected/data_file": 2, f"{s}/rejected/long_tail": 1,
                         f"{s}/exact_duplicates": 100, f"{s}/near_duplicates": 40, f"{s}/errors": 2})
        counters[f"{s}/kept"] = counters[f"{s}/in"] - (50 + i + 30 + 5 + 2 + 1 + 100 + 40 + 2)
    return funnel.build_report(counters, [])


def test_png_is_valid_and_sized_for_every_source():
    report = _report()
    png = chart.render_png(report)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])          # IHDR
    assert 1000 <= width <= 2000 and 700 <= height <= 1600, (width, height)
    assert 20_000 < len(png) < 1_000_000
    assert chart.render_png(report) == png               # same report => same bytes


def test_rows_follow_the_funnel_and_sum_to_in():
    rows = chart.chart_rows(_report(9))
    assert len(rows) == len(source_tags.names())
    for row in rows:
        labels = [s.label for s in row.segments]
        assert labels[:3] == ["max_line_length", "langid", "auto_generated"]   # top reasons, most frequent first
        assert labels[3:] == ["other rejects", "exact duplicates", "near duplicates", "errors", "kept"]
        assert sum(s.count for s in row.segments) == row.total
        assert next(s.count for s in row.segments if s.label == "other rejects") == 3


@pytest.mark.parametrize("corrupt,message", [
    (lambda r: r["sources"]["code"].update(kept=r["sources"]["code"]["kept"] + 1), "conservation"),
    (lambda r: r["sources"]["code"]["rejected"].update(langid=31), "rejected_total"),
    (lambda r: r["sources"]["code"].update(errors=-2), "count >= 0"),
    (lambda r: r["sources"]["code"].update(near_duplicates="40"), "count >= 0"),
    (lambda r: r.update(sources={}), "no sources"),
])
def test_inconsistent_reports_are_refused(corrupt, message):
    report = copy.deepcopy(_report())
    corrupt(report)
    with pytest.raises(ValueError, match=message):
        chart.render_png(report)


def test_markdown_links_the_chart():
    report = _report(2)
    assert "![Curation funnel per source](funnel.png)" in funnel.render_markdown(report, "funnel.png")
    assert "funnel.png" not in funnel.render_markdown(report)


def _job_with_counters(counts):
    """A real DirectRunner job whose "curate" counters are `counts` (what finish_report reads)."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics

    def bump(item):
        Metrics.counter("curate", item[0]).inc(item[1])

    p = beam.Pipeline("DirectRunner")
    _ = p | beam.Create(sorted(counts.items())) | beam.Map(bump)
    result = p.run()
    result.wait_until_finish()
    return result


def _shards(root, kept: int, rejected: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for kind, rows in (("kept", kept), ("rejected", rejected)):
        (root / kind / "code").mkdir(parents=True)
        pq.write_table(pa.table({"id": [str(i) for i in range(rows)]}), root / kind / "code" / "part-00000-of-00001.parquet")


@pytest.mark.parametrize("kept,chart", [(7, True), (6, False)])
def test_curate_writes_the_chart_next_to_report_md(tmp_path, kept, chart):
    from pipelines import curate_outputs
    (tmp_path / "funnel.png").write_bytes(b"stale")
    counts = {"code/in": 10, "code/rejected/langid": 2, "code/exact_duplicates": 1, "code/kept": kept}
    _shards(tmp_path, kept=kept, rejected=3)   # finish_report reconciles the counters with the rows written
    report = curate_outputs.finish_report(_job_with_counters(counts), str(tmp_path), ["code"], {})
    md = (tmp_path / "report.md").read_text()
    assert report["invariant_ok"] is chart
    assert ("](funnel.png)" in md) is chart
    if chart:
        assert (tmp_path / "funnel.png").read_bytes()[:4] == b"\x89PNG"
    else:   # a leaking job gets no picture, and an earlier run's picture is removed
        assert not (tmp_path / "funnel.png").exists() and "VIOLATED" in md
