"""Funnel report: per-source rows from counters, markdown table, conservation check."""
import json

import pytest

from pipelines.report import funnel

COUNTERS = {"code/in": 10, "code/in_bytes": 1000, "code/rejected/max_line_length": 2,
            "code/rejected/language_not_selected": 1, "code/exact_duplicates": 2, "code/near_duplicates": 1,
            "code/errors": 1, "code/kept": 3, "code/kept_bytes": 300, "dedup/candidate_edges": 7}


def test_report_rows_and_invariant():
    report = funnel.build_report(COUNTERS, ["code", "markup"], {"command": "x"})
    code = report["sources"]["code"]
    assert code["rejected"] == {"language_not_selected": 1, "max_line_length": 2}
    assert code["rejected_total"] == 3 and code["invariant_ok"] and report["invariant_ok"]
    assert code["percent"]["kept"] == 30.0 and code["percent"]["kept_bytes"] == 30.0
    assert report["sources"]["markup"]["in"] == 0
    assert report["job_counters"] == {"dedup/candidate_edges": 7}
    funnel.check_invariant(report)
    md = funnel.render_markdown(report)
    assert "| code | 10 |" in md and "max_line_length" in md and "holds for every source" in md
    assert json.loads(funnel.to_json(report))["sources"]["code"]["kept"] == 3


def test_leak_is_loud():
    report = funnel.build_report({**COUNTERS, "code/kept": 2}, ["code"])
    assert not report["invariant_ok"] and report["sources"]["code"]["unaccounted"] == 1
    with pytest.raises(funnel.InvariantError, match="code: in=10 kept=2"):
        funnel.check_invariant(report)


def test_shared_user_ids_are_reported_outside_the_balance():
    counters = {**COUNTERS, "code/duplicate_ids": 2, "code/duplicate_id_documents": 5}
    report = funnel.build_report(counters, ["code"])
    assert report["sources"]["code"]["duplicate_ids"] == {"ids": 2, "documents": 5}
    assert report["invariant_ok"]                       # shared ids are not a fate: every record still counts once
    md = funnel.render_markdown(report)
    assert "| code | 2 | 5 |" in md and "kept apart" in md
    assert "user ids shared" not in funnel.render_markdown(funnel.build_report(COUNTERS, ["code"]))
