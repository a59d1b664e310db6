import json

import pytest

from benchmarks import capacity

RATES = {"curate_docs_per_s_per_core": 500.0, "tokenize_tokens_per_s_per_core": 1e6,
         "dedup_shuffle_bytes_per_doc": 1000.0, "arrayrecord_bytes_per_token": 1.5}


def test_plan_traces_every_number_to_the_results(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RATES))
    out = tmp_path / "capacity.md"
    assert capacity.main(["--results", str(results), "--output", str(out), "--mfu", "0.5"]) == 0
    text = out.read_text()
    docs = sum(capacity.CORPUS_TOKENS[s] / capacity.TOKENS_PER_DOC[s] for s in capacity.CORPUS_TOKENS)
    hours = docs * capacity.RAW_OVER_KEPT / 500.0 / 3600
    assert f"**{hours:,.0f}**" in text                                   # curate core-hours
    assert f"**{846.6e9 / 1e6 / 3600:,.0f}**" in text                    # tokenize core-hours
    assert f"**{846.6e9 * 1.5 / 1e12:,.2f} TB**" in text                 # ArrayRecord storage
    assert "| 470m |" in text and "4,736" in text and "13,824" in text


def test_missing_rates_are_named(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"curate_docs_per_s_per_core": 1.0}))
    with pytest.raises(SystemExit, match="tokenize_tokens_per_s_per_core"):
        capacity.load_results(str(results))


def test_run_all_refuses_unknown_benchmarks(capsys):
    from benchmarks import run_all

    with pytest.raises(SystemExit):
        run_all.main(["--only", "nope"])
    assert "unknown benchmark(s) nope" in capsys.readouterr().err


def test_regenerating_keeps_the_measured_section(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RATES))
    out = tmp_path / "capacity.md"
    assert capacity.main(["--results", str(results), "--output", str(out)]) == 0
    out.write_text(out.read_text() + "\n## Reader memory\n\n| file | peak |\n|---|---|\n| 1 GB | 72 MiB |\n")
    assert capacity.main(["--results", str(results), "--output", str(out)]) == 0
    text = out.read_text()
    assert text.count(capacity.MEASURED_MARKER) == 1 and text.endswith("| 1 GB | 72 MiB |\n")
    assert text.index("## Assumptions") < text.index("## Reader memory")
