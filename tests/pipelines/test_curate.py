"""The curate job end to end on a tiny ROOT in every family's format, plus its Dataflow translation."""
import json
import pathlib

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import curate
from pipelines.sources import FAMILIES
from tests.pipelines import curate_fixture


def _rows(out: pathlib.Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(out.glob(f"{kind}/*/part-*-of-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _argv(raw, out):
    return ["--input", str(raw), "--output", str(out), "--no-langid"]


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    base = tmp_path_factory.mktemp("curate")
    planted = curate_fixture.build_root(base / "raw")
    tasks = base / "harness_tasks.jsonl"   # task documents as lm-eval --log_samples exports them
    tasks.write_text("".join(json.dumps({"doc_id": i, "doc": {"question": f"What is the capital of country {i}?",
                                                               "answer": "A city"}}) + "\n" for i in range(3)))
    report = curate.run(_argv(base / "raw", base / "out") + ["--decontaminate-against", str(tasks)])
    return base, planted, report


def test_report_names_the_eval_sets_decontaminated_against(curated):
    base, _, report = curated
    used = report["decontaminated_against"]
    assert used["sets"] == {"humaneval": 164, "harness_tasks": 3} and "humaneval" in used["index"]
    assert "3 items shorter than 13 tokens not indexed" in used["index"]   # short QA items cannot match 13-grams
    assert "Decontaminated against: harness_tasks (3 items), humaneval (164 items)" in (
        base / "out" / "report.md").read_text()


def test_report_funnel_and_invariant(curated):
    base, _, report = curated
    out = base / "out"
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report)) and on_disk["invariant_ok"]
    assert "| code |" in (out / "report.md").read_text()
    assert set(on_disk["sources"]) == {"code", "markup", "text", "commits", "notebooks", "stackexchange",
                                       "synthetic", "math", "instruct"}
    kept, rejected = _rows(out, "kept"), _rows(out, "rejected")
    for source, row in on_disk["sources"].items():
        assert row["kept"] == sum(r["source"] == source for r in kept), source
        n_rej = row["rejected_total"] + row["exact_duplicates"] + row["near_duplicates"] + row["errors"]
        assert n_rej == sum(r["source"] == source for r in rejected), source
        assert row["in"] == row["kept"] + n_rej
    assert len({r["id"] for r in kept}) == len(kept)          # no document written twice


def test_planted_defects_removed_with_reasons(curated):
    base, planted, report = curated
    kept, rejected = _rows(base / "out", "kept"), _rows(base / "out", "rejected")
    reasons = {(r["source"], r["reason"].split(":")[0], r["stage"]) for r in rejected}
    for expected in [("code", "exact_duplicate", "dedup"), ("code", "near_duplicate", "dedup"),
                     ("text", "exact_duplicate", "dedup"), ("text", "near_duplicate", "dedup"),
                     ("code", "contaminated", "decontaminate"), ("code", "language_not_selected", "read"),
                     ("code", "max_line_length", "filter"), ("text", "slimpajama_set_excluded", "filter"),
                     ("text", "malformed_json", "read")]:
        assert expected in reasons, expected
    for source, originals in (("code", planted["code_texts"]), ("text", planted["prose"])):
        # (the fixture's near copy of a code file carries an extra trailing newline)
        texts = [r["text"].rstrip("\n") for r in kept if r["source"] == source]
        originals = [t.rstrip("\n") for t in originals]
        # One document per original: its exact copy is gone, and either it or its near copy (the
        # smaller id wins) stays; nothing else (no leak, no rejected file) is kept.
        assert len(texts) == len(originals) == len(set(texts)), source
        near = curate_fixture.near_copy(originals[1]).rstrip("\n")
        assert sum(t == originals[1] or t == near for t in texts) == 1
        assert set(texts) - {near} <= set(originals)
    by_id = {r["id"]: r for r in kept}
    for r in rejected:
        if r["stage"] == "dedup":     # the duplicate names a kept document of its own source, smaller id
            kept_id = r["reason"].split(": ", 1)[1]
            assert kept_id in by_id and by_id[kept_id]["source"] == r["source"] and kept_id < r["id"]
    for source in ("commits", "notebooks", "stackexchange", "math", "instruct", "markup"):
        assert report["sources"][source]["kept"] == 1, source


def test_synthetic_solutions_are_executed(curated):
    base, _, _ = curated
    kept, rejected = _rows(base / "out", "kept"), _rows(base / "out", "rejected")
    assert {json.loads(r["meta"])["task_id"] for r in kept if r["source"] == "synthetic"} == {"good-1"}
    bad = [r for r in rejected if r["source"] == "synthetic"]
    assert [(json.loads(r["meta"])["task_id"], r["stage"], r["reason"].split(":")[0]) for r in bad] == \
        [("bad-1", "verify", "tests_failed")]


def test_rerun_gives_byte_identical_shards(curated):
    """Same input and flags -> the same bytes in kept/ and rejected/ (one shard per work item, rows in input
    order, not the runner's GroupByKey order); rejected/ holds duplicates and filtered rows here, so both count."""
    base, _, _ = curated
    again = base / "again"
    curate.run(_argv(base / "raw", again) + ["--decontaminate-against", str(base / "harness_tasks.jsonl"),
                                             "--sources", "stack,slimpajama"])
    names = sorted(str(p.relative_to(again)) for p in again.glob("*/*/part-*.parquet"))
    assert names == sorted(f"{kind}/{source}/part-00000-of-00001.parquet"
                           for kind in ("kept", "rejected") for source in ("code", "markup", "text"))
    assert {r["source"] for r in _rows(again, "rejected")} >= {"code", "text"}
    for name in names:
        assert (again / name).read_bytes() == (base / "out" / name).read_bytes(), name
    from pipelines.sources import family_files, parse_file
    (path,) = family_files("stack", str(base / "raw"))
    order = {r.id: i for i, r in enumerate(parse_file("stack", path, root=str(base / "raw")))}
    rows = pq.read_table(again / "rejected" / "code" / "part-00000-of-00001.parquet").to_pylist()
    assert len(rows) >= 2 and [order[r["id"]] for r in rows] == sorted(order[r["id"]] for r in rows)


def test_unknown_family_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown or no families"):
        curate.build_pipeline(beam.Pipeline(), str(tmp_path), str(tmp_path / "o"), ["nope"], curate.CurateConfig())


def _dry_run_pipeline():
    """(runner, pipeline) for DataflowRunner's offline translation (--dry_run: nothing is submitted)."""
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
    options = PipelineOptions(["--runner", "DataflowRunner", "--project", "test-project", "--region", "us-central1",
                               "--temp_location", "gs://bucket-name/tmp", "--dry_run=True", "--no_auth",
                               "--sdk_location=container"])
    runner = DataflowRunner()
    return runner, beam.Pipeline(runner=runner, options=options)


def test_dataflow_dry_run_translates_label_propagation_components():
    runner, p = _dry_run_pipeline()
    curate.build_pipeline(p, "gs://bucket-name/raw", "gs://bucket-name/curated", ["slimpajama"],
                          curate.CurateConfig(components="rounds", cc_rounds=3))
    assert p.run().job is not None
    names = {t.unique_name for t in runner.proto_pipeline.components.transforms.values()}
    assert "Dedup/Connected components/Min label round 3" in names and "Dedup/Union-find" not in names


def test_dataflow_dry_run_translates_with_readable_labels():
    runner, p = _dry_run_pipeline()
    sources = curate.build_pipeline(p, "gs://bucket-name/raw", "gs://bucket-name/curated",
                                    list(FAMILIES), curate.CurateConfig())
    result = p.run()
    assert result.job is not None
    names = {t.unique_name for t in runner.proto_pipeline.components.transforms.values()}
    top = {n for n in names if "/" not in n}
    expected = {"List stack files", "Pass 1 stack", "Pass 1 synthetic", "Read stackexchange", "Merge fingerprints",
                "Dedup", "Merge items", "Pass 2", "Records per user id"}
    assert expected <= top, expected - top
    assert {f"Pass 1 {f}" for f in FAMILIES} <= top
    assert "Dedup/Union-find" in names and not any("Min label round" in n for n in names)
    assert {"Pass 2/Publish shards", "Dedup/Read candidates back"} <= names
    from pipelines.curate_passes import _stages
    from pipelines.redact.step import _RedactFn

    def redacts(family):   # redaction is a step of pass 1 (off by default for prose: pipelines/redact)
        return any(isinstance(s, _RedactFn) for s in _stages(FAMILIES[family].chains, None, curate.CurateConfig()))
    assert redacts("stack") and redacts("commits")
    assert not (redacts("slimpajama") or redacts("synthetic") or redacts("math"))
    assert len(sources) == 9


SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE / "DEFECTS.json").exists(), reason="data/sample not generated")
def test_sample_planted_duplicates_and_leaks_removed(tmp_path):
    from pipelines.sources import parse_file
    defects = json.loads((SAMPLE / "DEFECTS.json").read_text())
    families = sorted({loc["family"] for locs in defects.values() for loc in locs} & set(FAMILIES))
    report = curate.run(_argv(SAMPLE, tmp_path) + ["--sources", ",".join(families)])
    assert report["invariant_ok"]
    kept, rejected = _rows(tmp_path, "kept"), _rows(tmp_path, "rejected")
    kept_texts = [" ".join(r["text"].split()) for r in kept]
    assert any(r["stage"] == "dedup" and r["reason"].startswith("exact_duplicate") for r in rejected)
    assert any(r["stage"] == "dedup" and r["reason"].startswith("near_duplicate") for r in rejected)

    records = {}   # (file, row or line) -> Document, through the real readers
    for family in families:
        for pattern in FAMILIES[family].reader.PATTERNS:
            for path in sorted((SAMPLE / family).glob(pattern)):
                for rec in parse_file(family, str(path), root=str(SAMPLE)):
                    loc = rec.meta.get("row", rec.meta.get("line"))
                    records[(rec.meta.get("file"), loc)] = rec
    from pipelines.dedup.minhash import jaccard
    kept_by_source = {}
    for r in kept:
        kept_by_source.setdefault(r["source"], []).append(r["text"])

    checked = 0
    for kind, locs in defects.items():
        for loc in locs:
            rec = records.get((loc["file"], loc.get("row", loc.get("line"))))
            if rec is None or not hasattr(rec, "text"):
                continue
            text = " ".join(rec.text.split())
            if kind.endswith("exact_duplicate"):
                # At most one copy survives (the other went as a duplicate, or a filter took one).
                assert kept_texts.count(text) <= 1, (kind, loc)
                checked += 1
            elif kind.endswith("near_duplicate"):
                # If the copy survived, no other kept document of its source is this close to it.
                others = [t for t in kept_by_source.get(rec.source, []) if t != rec.text]
                survived = rec.text in kept_by_source.get(rec.source, [])
                closest = max((jaccard(rec.text, t) for t in others), default=0.0) if survived else 0.0
                assert closest < 0.85, (kind, loc, closest)
                checked += 1
            elif kind.endswith("humaneval_copy"):
                assert text not in kept_texts, (kind, loc)
                checked += 1
    assert checked >= 3
    print(f"sample: {checked} planted duplicates/leaks checked; funnel:")
    print((tmp_path / "report.md").read_text())


def test_report_records_the_sandbox_layers(curated):
    base, _, report = curated
    box = json.loads((base / "out" / "report.json").read_text())["sandbox"]
    assert box["mode"] == "strict" and box["missing"] == []
    assert "seccomp" in box["layers"] and any(layer.startswith("landlock abi") for layer in box["layers"])
    assert "Synthetic verification sandbox (strict" in (base / "out" / "report.md").read_text()


def test_strict_sandbox_refuses_without_a_layer_and_best_effort_warns(tmp_path, monkeypatch, caplog):
    from sandbox import execution as sandbox
    raw = tmp_path / "raw" / "synthetic"
    raw.mkdir(parents=True)
    (raw / "s.jsonl").write_text(json.dumps({"id": "a", "prompt": "Write inc(x).", "solution": "def inc(x):\n"
                                             "    return x + 1\n", "tests": "assert inc(1) == 2\n"}) + "\n")
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    with pytest.raises(SystemExit, match="missing layer landlock"):
        curate.run(_argv(tmp_path / "raw", tmp_path / "strict"))
    assert not (tmp_path / "strict").exists()
    report = curate.run(_argv(tmp_path / "raw", tmp_path / "loose") + ["--sandbox", "best-effort"])
    assert report["sandbox"]["missing"] == ["landlock"] and report["sources"]["synthetic"]["kept"] == 1
    assert any("best-effort" in r.getMessage() and "MISSING landlock" in r.getMessage() for r in caplog.records)
