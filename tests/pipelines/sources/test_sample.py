"""Every reader over the committed sample corpus (data/sample): no crash, real counts, and the
planted read-stage defects listed in data/sample/DEFECTS.json rejected with the right reason."""
import json
import os
from collections import Counter

import pytest

from pipelines.document import Document, Rejected
from pipelines.sources import FAMILIES, family_files, parse_file

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "sample")
SAMPLE = os.path.normpath(SAMPLE)
PRESENT = sorted(f for f in FAMILIES if os.path.isdir(os.path.join(SAMPLE, f)))

# Planted defect kind -> reject reason key the reader must give ("why" sub-kinds where given).
_LINE = {"broken_json": {"malformed_json"}, "invalid_utf8": {"invalid_utf8"},
         None: {"malformed_json", "invalid_utf8"}}
READ_DEFECTS = {
    "stack_language_outside_top25": {None: {"language_not_selected"}},
    "synthetic_malformed_line": _LINE,
    "commits_malformed_line": _LINE,
    "slimpajama_malformed": _LINE,
}


def _read(family):
    return [r for path in family_files(family, SAMPLE) for r in parse_file(family, path, root=SAMPLE)]


@pytest.fixture(scope="module")
def records():
    return {family: _read(family) for family in PRESENT}


def test_sample_exists():
    assert os.path.isfile(os.path.join(SAMPLE, "DEFECTS.json")), "data/sample is missing"
    assert "stack" in PRESENT


def test_counts_and_reasons(records):
    for family, out in records.items():
        docs = [r for r in out if isinstance(r, Document)]
        assert docs, f"{family}: no documents"
        assert all(d.text.strip() for d in docs)
        assert all(isinstance(r, Rejected) and r.reason_key and r.stage == "read"
                   for r in out if not isinstance(r, Document))
        assert len({d.id for d in docs}) > 0.9 * len(docs)  # ids are per record, not per file
        assert not any(r.reason_key == "error" for r in out if isinstance(r, Rejected))


def test_planted_read_defects_rejected(records):
    defects = json.load(open(os.path.join(SAMPLE, "DEFECTS.json")))
    checked = 0
    for kind, expected in READ_DEFECTS.items():
        for d in defects.get(kind, []):
            if d["family"] not in records:
                continue
            if "row" in d:
                match = [r for r in records[d["family"]] if r.meta.get("file", r.meta.get("path")) == d["file"]
                         and r.meta.get("row") == d["row"]]
            else:
                match = [r for r in records[d["family"]] if isinstance(r, Rejected)
                         and r.meta.get("path") == d["file"] and r.meta.get("locator") == f"line {d['line']}"]
            assert len(match) == 1, (kind, d)
            assert isinstance(match[0], Rejected) and match[0].reason_key in expected[d.get("why")], (kind, d)
            checked += 1
    assert checked >= 10  # 10 languages + 2 malformed synthetic lines at least


def test_stack_routes_markup_and_code(records):
    sources = Counter(r.source for r in records["stack"] if isinstance(r, Document))
    assert sources["code"] > 0 and sources["markup"] > 0
