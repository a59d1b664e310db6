"""The lm-evaluation-harness adapter, run by the real harness on local JSONL tasks (no mock of the harness)."""
import json
import os
import subprocess
import sys

import pytest

from evals import local_tasks

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown


def _write_jsonl(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return str(path)


def _env(tmp_path):
    return dict(os.environ, PYTHONPATH=REPO, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
                HF_DATASETS_CACHE=str(tmp_path / "hf"), HF_HOME=str(tmp_path / "hf-home"))


def test_cli_runs_a_multiple_choice_and_a_generative_task_end_to_end(tiny_run, tmp_path):
    """`python -m evals harness` = lm_eval's CLI with the model registered, on two local tasks."""
    tasks = tmp_path / "tasks"
    mc = _write_jsonl(tmp_path / "mc.jsonl", [
        {"query": "def add(a, b):\n    return a", "choices": [" + b", " - b", " * b"], "gold": 0},
        {"query": "The cat sat on the", "choices": [" mat", " sky"], "gold": 0},
        {"query": "import numpy as", "choices": [" np", " pd", " xyz"], "gold": 0}])
    gen = _write_jsonl(tmp_path / "gen.jsonl", [{"question": "What is 1 + 1?", "answer": "2"},
                                               {"question": "Name a colour.", "answer": "red"}])
    local_tasks.write_task(str(tasks), "tiny_mc", "multiple_choice", mc)
    local_tasks.write_task(str(tasks), "tiny_gen", "generate_until", gen)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "evals", "harness", "--model", "code-mixtures", "--model_args",
         f"checkpoint={tiny_run['run']}", "--batch_size", "4", "--tasks", "tiny_mc,tiny_gen",
         "--include_path", str(tasks),
         "--output_path", str(out), "--log_samples"],
        cwd=str(tmp_path), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result_file] = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.startswith("results")]
    results = json.load(open(result_file))["results"]
    assert 0.0 <= results["tiny_mc"]["acc,none"] <= 1.0 and "acc_norm,none" in results["tiny_mc"]
    assert 0.0 <= results["tiny_gen"]["exact_match,none"] <= 1.0
    samples = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if "samples_tiny_mc" in f]
    logged = [json.loads(line) for line in open(samples[0])]
    assert sorted(len(s["resps"]) for s in logged) == [2, 3, 3]        # one loglikelihood request per choice
    assert all(float(r[0]) < 0 for s in logged for r in s["filtered_resps"])   # (logprob, is_greedy) pairs


@pytest.mark.slow
def test_python_api_runs_the_shipped_suites_and_a_rolling_task(tiny_run, tmp_path, monkeypatch):
    """Bigger local run through lm_eval.simple_evaluate: both shipped suites plus perplexity."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import evals.harness  # noqa: F401  (registers code-mixtures)

    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    tasks = tmp_path / "tasks"
    names = local_tasks.write_suites(str(tasks))
    rolling = _write_jsonl(tmp_path / "ppl.jsonl", [{"text": "def f(x):\n    return x * 2\n" * 20},
                                                   {"text": "The quick brown fox jumps over the lazy dog. " * 30}])
    local_tasks.write_task(str(tasks), "tiny_ppl", "rolling", rolling)
    out = lm_eval.simple_evaluate(model="code-mixtures", model_args=f"checkpoint={tiny_run['run']}",
                                  tasks=[*names.values(), "tiny_ppl"],
                                  task_manager=TaskManager(include_path=str(tasks)))
    res = out["results"]
    assert 0 <= res[names["reasoning"]]["acc,none"] <= 1 and 0 <= res[names["knowledge"]]["exact_match,none"] <= 1
    assert res["tiny_ppl"]["bits_per_byte,none"] > 0 and res["tiny_ppl"]["word_perplexity,none"] > 1


def test_shipped_suites_run_by_name_and_an_unreachable_dataset_is_one_line(tiny_run, tmp_path):
    """Defect 7: `--tasks cm_local_reasoning` was "Tasks not found"; arc_easy offline ended in a traceback."""
    base = [sys.executable, "-m", "evals", "harness", "--model", "code-mixtures", "--model_args",
            f"checkpoint={tiny_run['run']}", "--batch_size", "4", "--limit", "2"]
    out = tmp_path / "out"
    ok = subprocess.run(base + ["--tasks", "cm_local_reasoning,cm_local_knowledge", "--output_path", str(out)],
                        cwd=str(tmp_path), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-3000:]
    [result_file] = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.startswith("results")]
    assert set(json.load(open(result_file))["results"]) == {"cm_local_reasoning", "cm_local_knowledge"}
    offline = subprocess.run(base + ["--tasks=arc_easy"], cwd=str(tmp_path), env=_env(tmp_path),
                             capture_output=True, text=True, timeout=600)
    last = offline.stderr.strip().splitlines()[-1]
    assert offline.returncode == 2 and "Traceback" not in offline.stderr, offline.stderr[-2000:]
    assert last.startswith("python -m evals harness: a task's dataset is not reachable") and "ai2_arc" in last
    missing = subprocess.run([*base[:7], f"checkpoint={tmp_path / 'no-run'}", "--tasks", "cm_local_reasoning"],
                             cwd=str(tmp_path), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "no checkpoint" in missing.stderr
