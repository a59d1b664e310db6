"""Redaction inside the curate job: before exact dedup, counted per source, meta per document, --pii reject."""
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import curate
from tests.pipelines import curate_fixture

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "data" / "sample"
KEY_A = "AKIA" + "Q3X7ZP2LMN4RT6WB"
KEY_B = "AKIA" + "M8V2TQ9ZK4HX7PLC"


def _rows(out: pathlib.Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(out.glob(f"{kind}/*/part-*-of-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("pii") / "raw"
    code = curate_fixture._code(4)
    rows = [curate_fixture._stack_row(code[0], "Python", "src/clean.py"),
            curate_fixture._stack_row(code[1] + f'\nAWS_ACCESS_KEY_ID = "{KEY_A}"\n', "Python", "a/settings.py"),
            curate_fixture._stack_row(code[1] + f'\nAWS_ACCESS_KEY_ID = "{KEY_B}"\n', "Python", "b/settings.py"),
            curate_fixture._stack_row(code[2] + "\n# maintainer: jane.roe@gmail.com, server 52.14.33.101\n",
                                      "Python", "src/contact.py"),
            curate_fixture._stack_row(code[3], "Python", "src/other.py")]
    (root / "stack").mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("max_stars_count"), "max_stars_count",
                             pa.array([r["max_stars_count"] for r in rows], pa.int64()))
    pq.write_table(table, root / "stack" / "part-0.parquet")
    return root, code


def _run(raw_root, out, *flags):
    return curate.run(["--input", str(raw_root), "--output", str(out), "--no-langid", *flags])


def test_redacted_before_dedup_counted_and_clean_docs_untouched(raw, tmp_path):
    root, code = raw
    report = _run(root, tmp_path / "out")
    kept = {r["text"]: r for r in _rows(tmp_path / "out", "kept")}
    texts = "".join(kept)
    assert KEY_A not in texts and KEY_B not in texts and "jane.roe" not in texts and "52.14.33.101" not in texts
    # the two files that differed only in their key are now exact duplicates: one kept, one dropped
    settings = code[1] + '\nAWS_ACCESS_KEY_ID = "<KEY>"\n'
    assert settings in kept and json.loads(kept[settings]["meta"])["pii"] == {"key": 1}
    contact = code[2] + "\n# maintainer: <EMAIL>, server 10.0.0.1\n"
    assert json.loads(kept[contact]["meta"])["pii"] == {"email": 1, "ip": 1}
    for clean in (code[0], code[3]):   # no findings: the very text, no "pii" in meta
        assert clean in kept and "pii" not in json.loads(kept[clean]["meta"])
    row = report["sources"]["code"]
    assert row["exact_duplicates"] == 1 and row["kept"] == 4 and row["invariant_ok"]
    assert row["pii"] == {"documents": 3, "spans": {"email": 1, "ip": 1, "key": 2}}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| code | 3 | 1 | 1 | 2 |" in md
    assert report["config"]["pii"]["mode"] == "redact"


def test_reject_mode_sends_findings_to_rejected_with_reason_and_redacted_text(raw, tmp_path):
    root, code = raw
    report = _run(root, tmp_path / "out", "--pii", "reject")
    rejected = [r for r in _rows(tmp_path / "out", "rejected") if r["stage"] == "pii"]
    assert sorted(r["reason"] for r in rejected) == ["pii: email=1,ip=1", "pii: key=1", "pii: key=1"]
    assert all(KEY_A not in r["text"] and KEY_B not in r["text"] and "jane.roe" not in r["text"] for r in rejected)
    row = report["sources"]["code"]
    assert row["rejected"]["pii"] == 3 and row["kept"] == 2 and row["invariant_ok"]


def test_off_leaves_every_text_as_read(raw, tmp_path):
    root, code = raw
    report = _run(root, tmp_path / "out", "--pii", "off")
    texts = "".join(r["text"] for r in _rows(tmp_path / "out", "kept"))
    assert "jane.roe@gmail.com, server 52.14.33.101" in texts and (KEY_A in texts) != (KEY_B in texts)
    row = report["sources"]["code"]
    # unredacted, the two settings files differ in their key: only near dedup catches them
    assert row["pii"]["documents"] == 0 and row["exact_duplicates"] == 0 and row["near_duplicates"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE / "stack").exists(), reason="data/sample not present")
def test_sample_rows_without_findings_are_byte_identical_to_pii_off(tmp_path):
    _run(SAMPLE, tmp_path / "off", "--pii", "off")
    report = _run(SAMPLE, tmp_path / "on")
    off = {r["id"]: r for r in _rows(tmp_path / "off", "kept")}
    on = {r["id"]: r for r in _rows(tmp_path / "on", "kept")}
    clean = [i for i, r in on.items() if "pii" not in json.loads(r["meta"])]
    assert len(clean) < len(on) and all(on[i] == off[i] for i in clean)
    for source, row in report["sources"].items():   # sources with no finding: the very same shard bytes
        if not row["pii"]["documents"]:
            a = sorted((tmp_path / "off" / "kept" / source).glob("part-*.parquet"))
            b = sorted((tmp_path / "on" / "kept" / source).glob("part-*.parquet"))
            assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b], source
