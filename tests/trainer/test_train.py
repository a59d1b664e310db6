"""trainer/train.py + CLI: exact resume, mixture guard, cooldown from a previous stage, dry run, two processes."""
import json
import os
import socket
import subprocess
import sys

import jax
import pytest

from mixer.sampling_plan import SamplingPlan
from tests.trainer.corpus import make_mixture
from trainer import checkpoint, data, host_slices
from trainer.__main__ import main
from trainer.metrics import read_metrics
from trainer.model import count_params
from trainer.train import RunOptions, train

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = (("model.seq_len", "32"), ("global_batch", "4"))


def _opts(mixture, workdir, **kw):
    kw = {"overrides": SMALL, "log_every": 1, "eval_every": 0, "log_documents": True, **kw}
    return RunOptions(mixture=mixture, config="tiny", workdir=str(workdir), **kw)


def _train_records(workdir):
    return {r["step"]: r for r in read_metrics(str(workdir)) if r["kind"] == "train"}


def _documents(workdir, process=0, count=1):
    with open(os.path.join(str(workdir), "documents", f"process_{process}-of-{count}.jsonl")) as f:
        return {r["step"]: r["documents"] for r in map(json.loads, f)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One uninterrupted 8-step run and the same run stopped at step 4 and resumed."""
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    root = tmp_path_factory.mktemp("runs")
    mixture = make_mixture(str(root / "data"), documents=100, seq_len=32, total_tokens=4 * 32 * 8)
    full, split = root / "full", root / "split"
    summary = train(_opts(mixture, full, checkpoint_every=100))
    stopped = train(_opts(mixture, split, stop_at=4))
    resumed = train(_opts(mixture, split))
    return {"mixture": mixture, "root": root, "full": full, "split": split, "summary": summary,
            "stopped": stopped, "resumed": resumed}


def test_short_run_then_refuses_a_different_mixture(tmp_path):
    mixture = make_mixture(str(tmp_path / "a"), documents=60, seq_len=32, total_tokens=4 * 32 * 2)
    summary = train(_opts(mixture, tmp_path / "run"))
    assert summary["step"] == 2 and summary["steps"] == 2          # the mixture's budget: 2 steps of 4 x 32
    records = _train_records(tmp_path / "run")
    assert sorted(records) == [1, 2] and set(records[2]["loss_per_source"]) == {"code", "text"}
    assert all(0 < r["mfu"] < 1 and r["tokens_per_s"] > 0 for r in records.values())
    assert checkpoint.Checkpointer(str(tmp_path / "run"), read_only=True).all_steps() == [2]
    other = make_mixture(str(tmp_path / "b"), documents=60, seq_len=32, total_tokens=4 * 32 * 2,
                         weights={"code": 0.8, "text": 0.2})
    with pytest.raises(checkpoint.ResumeError, match="--force"):
        train(_opts(other, tmp_path / "run", steps=3))


@pytest.mark.slow
def test_steps_from_mixture_budget_and_final_checkpoint(runs):
    assert runs["summary"]["steps"] == 8 and runs["summary"]["step"] == 8   # 8 steps of 4 x 32 tokens
    assert checkpoint.Checkpointer(str(runs["full"]), read_only=True).all_steps() == [8]
    assert os.path.exists(runs["summary"]["plot"])
    assert os.listdir(os.path.join(str(runs["full"]), "tb"))


@pytest.mark.slow
def test_resume_is_exact(runs):
    assert runs["stopped"]["step"] == 4 and runs["resumed"]["step"] == 8
    full, split = _train_records(runs["full"]), _train_records(runs["split"])
    assert sorted(split) == list(range(1, 9))
    for step in range(1, 9):
        assert abs(full[step]["loss"] - split[step]["loss"]) <= 1e-6, step
        assert full[step]["lr"] == pytest.approx(split[step]["lr"], rel=1e-7)
        for source, value in full[step]["loss_per_source"].items():
            assert abs(value - split[step]["loss_per_source"][source]) <= 1e-6
    assert _documents(runs["full"]) == _documents(runs["split"])   # the same documents at the same steps
    assert full[8]["loss"] < full[1]["loss"]


@pytest.mark.slow
def test_cooldown_continues_from_previous_stage(runs):
    previous = checkpoint.Checkpointer(str(runs["full"]), read_only=True).read_meta()
    cooldown = make_mixture(str(runs["root"] / "cool-data"), documents=100, seq_len=32, total_tokens=4 * 32 * 4,
                            schedule={"kind": "linear", "warmup_steps": 0, "final_lr": 1e-6}, stage="cooldown", name="cool")
    with open(cooldown) as f:
        body = json.load(f)
    body["init_from"] = "full"          # resolved as a sibling of --workdir
    with open(cooldown, "w") as f:
        json.dump(body, f)
    train(_opts(cooldown, runs["root"] / "cool"))
    records = _train_records(runs["root"] / "cool")
    assert records[1]["lr"] == pytest.approx(previous["lr"], rel=1e-6)   # starts where stage 1 ended
    assert records[4]["lr"] == pytest.approx(1e-6, rel=1e-3)             # linear annealing to 1e-6
    assert records[1]["loss"] < _train_records(runs["full"])[1]["loss"] - 0.1   # trained weights were loaded


def test_dry_run_allocates_nothing(tmp_path, capsys):
    mixture = make_mixture(str(tmp_path), documents=20, seq_len=8192, total_tokens=200 * 10 ** 9)
    before = jax.live_arrays()           # held, so their ids stay unique while we compare
    assert main(["train", "--mixture", mixture, "--config", "470m", "--workdir", str(tmp_path / "run"),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    from trainer.configs import get_config
    assert f"{count_params(get_config('470m').model):,}" in out
    assert f"{200 * 10 ** 9 // (512 * 8192):,}" in out and "chip-hours" in out and "40% MFU" in out
    known = {id(a) for a in before}
    assert not [a for a in jax.live_arrays() if id(a) not in known]      # no array was allocated
    assert not os.path.exists(tmp_path / "run")


def test_dry_run_costs_a_bare_token_budget(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "470m", "--dry-run", "--tokens", "200B"]) == 0
    out = capsys.readouterr().out
    from trainer.configs import get_config
    from trainer.flops import cost
    c = cost("470m", get_config("470m").model, 200e9 // (512 * 8192) * 512 * 8192, 0.4)
    assert f"{count_params(get_config('470m').model):,}" in out and "no mixture" in out
    assert f"{c['flops_per_token']:.4g}" in out and "memory per device" in out and "fits in 16 GiB" in out
    assert f"{c['chip_hours']:,.0f} at an assumed 40% MFU" in out and "4,736 v5e chip-hours" in out
    assert f"{c['paper_mfu']:.1%} MFU by this count" in out and "16.8% by 6ND" in out
    assert os.listdir(tmp_path) == []                                    # no workdir, nothing written
    for argv, message in ((["--config", "470m", "--dry-run"], "needs --mixture or --tokens"),
                          (["--config", "470m", "--tokens", "1B"], "required unless --dry-run"),
                          (["--config", "470m", "--dry-run", "--tokens", "2X"], "K/M/B/T")):
        with pytest.raises(SystemExit):
            main(["train", *argv])
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_loss_falls_over_100_steps(tmp_path):
    mixture = make_mixture(str(tmp_path), documents=200, seq_len=64, total_tokens=8 * 64 * 100)
    train(_opts(mixture, tmp_path / "run", overrides=(("model.seq_len", "64"),), log_every=10, eval_every=50))
    records = _train_records(tmp_path / "run")
    first, last = records[10], records[100]
    for source in ("code", "text"):
        assert last["loss_per_source"][source] < first["loss_per_source"][source] - 0.5, source
    evals = [r for r in read_metrics(str(tmp_path / "run")) if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [50, 100]
    assert evals[-1]["loss_per_source"]["code"] < evals[0]["loss_per_source"]["code"]


@pytest.mark.slow
def test_two_processes_read_disjoint_documents(tmp_path):
    mixture = make_mixture(str(tmp_path), documents=100, seq_len=32, total_tokens=8 * 32 * 3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "trainer", "train", "--mixture", mixture, "--config", "tiny", "--workdir",
         str(tmp_path / "run"), "--set", "model.seq_len=32", "--log-every", "1", "--eval-every", "0",
         "--log-documents", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out[-3000:]
    hosts = []
    for i in range(2):
        per_step = _documents(tmp_path / "run", i, 2)
        assert sorted(per_step) == [1, 2, 3]
        docs = []
        for step in (1, 2, 3):
            docs += [tuple(d) for d in per_step[step] if not docs or docs[-1] != tuple(d)]
        hosts.append(docs)
    assert not set(hosts[0]) & set(hosts[1])
    with open(mixture) as f:
        body = json.load(f)
    readers = data.SourceReaders(body)   # as the trainer builds it: sources with held-out shards keep all training docs
    plan_mixture = data.training_mixture(body, data.DataConfig(32, 8).eval_documents, data.split_sources(readers))
    for i in range(2):   # process i trained on its own shard slice, in its own plan's order
        mine = host_slices.host_data(plan_mixture, readers, None, i, 2)   # seed None: the mixture's, as the trainer passes
        plan = SamplingPlan(mine.mixture, seed=mine.seed, doc_tokens=lambda s, j, m=mine: m.lengths[s][j])
        stream = [(plan.sources.index(s), mine.slices[s].global_index(j)) for s, j in plan.take(len(hosts[i]))]
        assert hosts[i] == stream
    ckpt = os.path.join(str(tmp_path / "run"), "checkpoints", "3", "data")
    assert sorted(f for f in os.listdir(ckpt) if f.endswith(".json")) == ["process_0-of-2.json",
                                                                          "process_1-of-2.json"]
