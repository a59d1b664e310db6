"""`python -m evals heldout|code|evaluate` on the tiny run (in-process: one model load per command)."""
import json

import pytest

from evals.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown


def test_heldout_and_code_commands(tiny_run, tmp_path, capsys):
    assert main(["heldout", "--checkpoint", tiny_run["run"], "--data", tiny_run["tokens"], "--batch-size", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["source", "loss"] and [l.split()[0] for l in lines[1:]] == ["code", "text"]
    out = tmp_path / "code.jsonl"
    assert main(["code", "--checkpoint", tiny_run["run"], "--limit", "2", "--max-new-tokens", "8",
                 "--output", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)["humaneval"]
    assert result["problems"] == 2 and result["pass@1"] == 0.0
    assert [json.loads(line)["task_id"] for line in out.read_text().splitlines()] == ["HumanEval/0", "HumanEval/1"]
    for bad in (["--samples", "2"], ["--samples", "2", "--temperature", "0.8", "--k", "1,5"]):
        with pytest.raises(SystemExit):                       # refused before the model is loaded
            main(["code", "--checkpoint", tiny_run["run"], *bad])
    assert main(["code", "--checkpoint", tiny_run["run"], "--no-humaneval"]) == 2


def test_code_scores_humaneval_and_mbpp_apart_saves_rows_and_rescores_them(tiny_run, tmp_path, capsys):
    """Defects 3 and 10: one pass@1 per benchmark (never pooled); completions, verdicts and reasons saved per
    problem; saved completions scored again without the model."""
    from tests.evals.test_code import MBPP_ROWS

    mbpp = tmp_path / "mbpp.jsonl"
    mbpp.write_text("".join(json.dumps(r) + "\n" for r in MBPP_ROWS))
    rows_path = tmp_path / "rows.jsonl"
    assert main(["code", "--checkpoint", tiny_run["run"], "--limit", "2", "--mbpp", str(mbpp), "--max-new-tokens",
                 "8", "--output", str(rows_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(summary) == ["humaneval", "mbpp"]
    assert summary["humaneval"]["problems"] == 2 and summary["mbpp"]["problems"] == 2
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert [r["benchmark"] for r in rows] == ["humaneval", "humaneval", "mbpp", "mbpp"]
    for r in rows:
        assert len(r["completions"]) == len(r["passed"]) == len(r["reasons"]) == 1
        assert r["passed"] == [False] and r["reasons"][0]                # a 12-step model fails, with a reason
        assert r["prompt_tokens_kept"] == min(r["prompt_tokens"], 63) and 1 <= r["max_new_tokens"] <= 8   # seq_len 64
    for name in summary:
        assert summary[name]["prompts_cut"] == sum(r["prompt_tokens_kept"] < r["prompt_tokens"] for r in rows
                                                   if r["benchmark"] == name)
    # Re-scoring runs the saved completions again: swap in the reference solution of MBPP task 2.
    rows[2]["completions"] = [MBPP_ROWS[0]["code"]]
    rows[2]["prompt"] = ""
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["code", "--rescore", str(rows_path)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["mbpp"]["pass@1"] == 0.5 and again["humaneval"]["pass@1"] == 0.0
    rows_path.write_text("{not json\n")
    assert main(["code", "--rescore", str(rows_path)]) == 2
    assert "not a completions row" in capsys.readouterr().err


def test_sweep_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = capsys.readouterr().out
    for flag in ("--recipes", "--tokens", "--seeds", "--launch-only", "--heldout-tokens", "--humaneval-limit"):
        assert flag in text
