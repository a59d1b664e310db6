"""`python -m evals heldout|code|evaluate` on the tiny run (in-process: one model load per command)."""
import json

import pytest

from evals.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown


def test_heldout_and_code_commands(tiny_run, tmp_path, capsys):
    assert main(["heldout", "--checkpoint", tiny_run["run"], "--data", tiny_run["tokens"], "--batch-size", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["source", "loss"] and [l.split()[0] for l in lines[1:]] == ["code", "text"]
    out = tmp_path / "code.json"
    assert main(["code", "--checkpoint", tiny_run["run"], "--limit", "2", "--max-new-tokens", "8",
                 "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["problems"] == 2 and result["pass@1"] == 0.0 and set(result["per_task"]) == {
        "HumanEval/0", "HumanEval/1"}
    for bad in (["--samples", "2"], ["--samples", "2", "--temperature", "0.8", "--k", "1,5"]):
        with pytest.raises(SystemExit):                       # refused before the model is loaded
            main(["code", "--checkpoint", tiny_run["run"], *bad])
    assert main(["code", "--checkpoint", tiny_run["run"], "--no-humaneval"]) == 2


def test_sweep_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = capsys.readouterr().out
    for flag in ("--recipes", "--tokens", "--seeds", "--launch-only", "--heldout-tokens", "--humaneval-limit"):
        assert flag in text
