"""Issue 13.6 and the Stack Exchange half of 15, through the real curate job: every row of a
Posts.xml ends in a thread or in rejected/ with a reason, a repeated Id never overwrites the first
row, the report's row ledger balances (and fails when a row is lost), DTD markup anywhere refuses
the file, and a Posts.xml over the in-memory cap is read, not rejected whole."""
from __future__ import annotations

import dataclasses
import json
from xml.sax.saxutils import quoteattr

import pytest

from pipelines.report import funnel
from pipelines.curate import CurateConfig
from pipelines.filters import FilterConfig
from pipelines.sources import ReadLimits
from tests.reliability.test_hostile import curate_in_process, output_rows

SENTENCES = [
    "How do I reverse a list in Python without changing the original list that I passed in?",
    "Use slicing, which returns a new list and leaves the original alone, as the documentation says.",
    "The built-in function reversed also works when you only need to iterate over the items once.",
    "Why does my dictionary lookup raise a KeyError even though I added the key a moment before?",
    "Check that the key has the same type: the string one and the integer one are different keys.",
    "You can also call the get method with a default value, which never raises for a missing key.",
    "What is the difference between a tuple and a list when I only want to store a few values?",
]


def _row(**attrs) -> str:
    return "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />\n"


def _body(i: int) -> str:
    """Three real sentences and a marker naming the row, so a test can tell which row it sees."""
    return "<p>" + " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(3)) + f" (marker {i})</p>"


# Each input row with where it must end: "thread <question Id>" or the reject reason key.
ROWS = [
    (_row(Id=1, PostTypeId=1, AcceptedAnswerId=3, Score=5, Title="Reverse a list", Body=_body(101)), "thread 1"),
    (_row(Id=2, PostTypeId=2, ParentId=1, Score=2, Body=_body(102)), "thread 1"),
    (_row(Id=1, PostTypeId=1, Score=50, Title="Another question reusing Id 1", Body=_body(103)), "duplicate_post_id"),
    (_row(Id=3, PostTypeId=2, ParentId=1, Score=1, Body=_body(104)), "thread 1"),
    (_row(Id=3, PostTypeId=2, ParentId=1, Score=9, Body=_body(105)), "duplicate_post_id"),
    (_row(Id=4, PostTypeId=1, Score=1, Title="Dictionary lookup", Body=_body(106)).replace("<row", "<Row"),
     "unknown_row_element"),
    (_row(Id=5, PostTypeId=2, ParentId=404, Score=1, Body=_body(107)), "orphan_answer"),
    (_row(Id=6, PostTypeId=1, Title="Broken", Body=_body(108)).replace("Title=", "Title=Title="), "malformed_row"),
    (_row(PostTypeId=1, Title="No id", Body=_body(109)), "missing_field"),
    (_row(Id=7, PostTypeId=2, Body=_body(110)), "missing_field"),
    (_row(Id=8, PostTypeId=4, Body=_body(111)), "post_type_not_thread"),
    (_row(Id=9, PostTypeId=1, Title="Tuple or list", Body=_body(112)), "thread 9"),
    ("this line is not XML at all\n", "stray_text"),
    (_row(Id=10, PostTypeId=2, ParentId=9, Score=3, Body=_body(113)), "thread 9"),
]
def _posts(rows) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(r for r, _ in rows)
            + "</posts>\n").encode("utf-8")


MESSY = "stackexchange/messy.example.com/Posts.xml"          # every kind of row above
CLEAN = "stackexchange/clean.example.com/Posts.xml"          # well-formed: main reads it without complaint
POISONED = "stackexchange/poisoned.example.com/Posts.xml"    # DTD markup after the first rows
CLEAN_ROWS = [(r, where) for r, where in ROWS if where not in ("malformed_row", "stray_text")]
FILES = {
    MESSY: _posts(ROWS),
    CLEAN: _posts(CLEAN_ROWS),
    POISONED: _posts(CLEAN_ROWS).replace(b'  <row Id="9"', b'<!ENTITY leak SYSTEM "file:///etc/passwd">\n  <row Id="9"'),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One curate job over the three files. max_xml_bytes, the in-memory reader's cap, sits between
    the clean file and the others: the job must not apply it (on main a Posts.xml over it was
    rejected whole, `file_too_large`, as every Posts.xml over 1 GiB was)."""
    tmp = tmp_path_factory.mktemp("rows")
    raw = tmp / "raw"
    for rel, data in FILES.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_bytes(data)
    cfg = CurateConfig(filters=dataclasses.replace(FilterConfig(), use_langid=False))
    report = curate_in_process(raw, tmp / "out", ReadLimits(max_xml_bytes=len(FILES[CLEAN]) + 1), cfg)
    by_file: dict[str, dict[str, list[dict]]] = {rel: {"kept": [], "rejected": []} for rel in FILES}
    for kind in ("kept", "rejected"):
        for row in output_rows(tmp / "out", kind):
            meta = json.loads(row["meta"])
            by_file[meta.get("file") or meta.get("path")][kind].append(row)
    return report, by_file


def _threads(rows: list[dict]) -> dict[int, dict]:
    return {json.loads(r["meta"])["question_id"]: r for r in rows if "question_id" in json.loads(r["meta"])}


@pytest.mark.parametrize("rel,rows", [(MESSY, ROWS), (CLEAN, CLEAN_ROWS)])
def test_every_row_ends_in_a_thread_or_a_reject_with_its_reason(run, rel, rows):
    _, by_file = run
    out = by_file[rel]
    threads = _threads(out["kept"] + out["rejected"])
    row_rejects = sorted(r["reason"].split(":")[0] for r in out["rejected"] if "locator" in json.loads(r["meta"]))
    assert row_rejects == sorted(where for _, where in rows if not where.startswith("thread"))
    for qid in (1, 9):
        expected_rows = sum(1 for _, where in rows if where == f"thread {qid}")
        assert 1 + json.loads(threads[qid]["meta"])["answers"] == expected_rows


def test_the_report_counts_rows_and_balances(run):
    report, _ = run
    in_threads = sum(1 for rows in (ROWS, CLEAN_ROWS) for _, where in rows if where.startswith("thread"))
    rejected = sum(1 for rows in (ROWS, CLEAN_ROWS) for _, where in rows if not where.startswith("thread"))
    refused = len(CLEAN_ROWS) + 1    # the poisoned file's rows and its <!ENTITY line
    assert report["sources"]["stackexchange"]["rows"] == {
        "in": in_threads + rejected + refused, "in_threads": in_threads, "rejected": rejected,
        "in_refused_files": refused, "unaccounted": 0}
    assert report["sources"]["stackexchange"]["invariant_ok"]


def test_a_repeated_question_id_keeps_the_first_question_and_its_answers(run):
    _, by_file = run
    out = by_file[CLEAN]
    first = _threads(out["kept"] + out["rejected"])[1]   # kept, or dropped as a copy of the messy file's
    assert first["text"].startswith("Reverse a list\n\n") and "Another question" not in first["text"]
    assert first["text"].count("Answer:\n") == 2 and "(marker 105)" not in first["text"]   # Id 3 copy dropped
    dups = [r for r in out["rejected"] if r["reason"].startswith("duplicate_post_id")]
    assert {r["reason"].split(" first at")[0] for r in dups} == {"duplicate_post_id: Id 1", "duplicate_post_id: Id 3"}
    assert any("(marker 103)" in r["text"] for r in dups)     # the second question is inspectable


def test_other_casing_rows_are_rejected_not_skipped(run):
    _, by_file = run
    [row] = [r for r in by_file[CLEAN]["rejected"] if r["reason"].startswith("unknown_row_element")]
    assert row["reason"] == "unknown_row_element: Row" and 'Id="4"' in row["text"]


def test_dtd_markup_after_rows_refuses_the_whole_file(run):
    _, by_file = run
    out = by_file[POISONED]
    assert out["kept"] == []
    assert [r["reason"].split(":")[0] for r in out["rejected"]] == ["xml_entities_forbidden"]


def test_a_file_over_the_in_memory_cap_is_read_not_rejected(run):
    _, by_file = run
    assert len(FILES[MESSY]) > len(FILES[CLEAN]) + 1
    assert set(_threads(by_file[MESSY]["kept"] + by_file[MESSY]["rejected"])) == {1, 9}
    assert not any("file_too_large" in r["reason"] for out in by_file.values() for r in out["rejected"])


def test_the_funnel_fails_when_a_row_is_lost():
    counters = {"stackexchange/in": 3, "stackexchange/kept": 2, "stackexchange/rejected/orphan_answer": 1,
                "stackexchange/rows/in": 6, "stackexchange/rows/in_threads": 4, "stackexchange/rows/rejected": 1}
    report = funnel.build_report(counters, ["stackexchange"])
    assert report["sources"]["stackexchange"]["rows"]["unaccounted"] == 1
    assert not report["invariant_ok"]
    with pytest.raises(funnel.InvariantError, match="rows in=6 unaccounted=1"):
        funnel.check_invariant(report)
    counters["stackexchange/rows/in_threads"] = 5
    assert funnel.build_report(counters, ["stackexchange"])["invariant_ok"]
