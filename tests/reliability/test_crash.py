"""Crash and resume across stages.

- `python -m pipelines.tokenize` SIGKILLed after its first shard appears: at every moment we look
  (polling while it runs), each manifest.json on disk describes complete shards; the rerun is
  byte-identical to an uninterrupted run. (tests/pipelines/test_tokenize.py covers the rerun's bytes;
  this adds the "no half-published source is ever visible" property, checked while the job runs.)
- `python -m trainer train` SIGKILLed once a checkpoint exists, then rerun: the losses after the
  checkpoint equal an uninterrupted run's (metrics.jsonl), not just a graceful --stop-at.
- A shard of the real tokenize job damaged on disk: the trainer's loader, reading through a mixture
  built by `mixer build`, names the shard and the record instead of training on garbage.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipelines import tokenize
from tests.reliability.stages import REPO, curated_and_tokenizer, published_sources, tokenize_args


def _digests(out) -> dict[str, str]:
    found = {}
    for dirpath, _, files in os.walk(out):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                blob = f.read()
            if name == "manifest.json":   # created_by names the output folder; everything else must match
                body = json.loads(blob)
                body.pop("created_by")
                blob = json.dumps(body, sort_keys=True).encode()
            found[os.path.relpath(os.path.join(dirpath, name), out)] = hashlib.sha256(blob).hexdigest()
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    docs = curated_and_tokenizer(root)
    tokenize.run(tokenize_args(root, root / "clean", 20))
    return root, docs


def _shards_present(out) -> bool:
    return out.exists() and any(n.startswith("part-") or n.startswith(".tmp-")
                                for d in out.iterdir() if d.is_dir() for n in os.listdir(d))


def test_killed_tokenize_never_publishes_a_partial_source(corpus, tmp_path):
    root, docs = corpus
    out = tmp_path / "tokens"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.tokenize", *tokenize_args(root, out, 20)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, checks, killed = {}, 0, False
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if _shards_present(out):
            for source, problem in published_sources(str(out)).items():
                checks += 1
                assert not problem, f"manifest for {source} published over incomplete shards: {problem}"
                seen[source] = True
            if not killed and len(seen) < len(docs):
                proc.send_signal(signal.SIGKILL)   # the first shard exists, not every manifest yet
                killed = True
        time.sleep(0.01)
    proc.wait(timeout=30)
    for source, problem in published_sources(str(out)).items():   # the state the crash left behind
        assert not problem, f"after the kill, {source}: {problem}"
    assert killed and proc.returncode == -signal.SIGKILL, "the job finished before it could be interrupted"
    tokenize.run(tokenize_args(root, out, 20))
    assert _digests(out) == _digests(root / "clean")
    assert set(published_sources(str(out))) == set(docs)


def test_damaged_real_shard_is_named_by_the_trainers_loader(corpus, tmp_path):
    import shutil

    from mixer.cli import main as mixer_main
    from tokens.manifest import load_manifest
    from trainer import data

    root, _ = corpus
    tokens = tmp_path / "tokens"
    shutil.copytree(root / "clean", tokens)
    assert mixer_main(["build", "--weights", "code=0.5,text=0.5", "--data", str(tokens), "--tokens", "20K",
                       "--seq-len", "64", "--allow-repeat", "--output", str(tmp_path / "mix")]) == 0
    mixture = json.loads((tmp_path / "mix" / "mixture.json").read_text())
    # Damage the largest code shard in the middle (bit rot after a successful job).
    manifest = load_manifest(str(tokens / "code" / "manifest.json"))
    shard = max(manifest.shards, key=lambda s: s.tokens)
    path = tokens / "code" / shard.path
    blob = bytearray(path.read_bytes())
    for k in range(len(blob) // 2, len(blob) // 2 + 64):
        blob[k] ^= 0xFF
    path.write_bytes(bytes(blob))
    cfg = data.DataConfig(seq_len=64, global_batch=2, prefetch=0)
    with pytest.raises((data.DataError, Exception)) as err:
        it = data.make_train_iterator(mixture, cfg, str(tmp_path / "mix"))
        for _ in range(5000):
            next(it)
    message = str(err.value)
    assert shard.path in message, message
    assert "record" in message or "document" in message, message


def _checkpoint_steps(workdir) -> list[int]:
    ckpt = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(ckpt):
        return []
    return sorted(int(n) for n in os.listdir(ckpt) if n.isdigit()
                  and os.path.exists(os.path.join(ckpt, n, "_CHECKPOINT_METADATA")))


def _losses(workdir) -> dict[int, float]:
    out = {}
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "train":
                out[r["step"]] = r["loss"]     # a resumed run rewrites steps after the checkpoint
    return out


@pytest.mark.slow
def test_sigkilled_trainer_resumes_to_the_same_losses(tmp_path):
    from tests.trainer.corpus import make_mixture

    mixture = make_mixture(str(tmp_path / "data"), documents=100, seq_len=32, total_tokens=4 * 32 * 10)
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")

    def command(workdir):
        return [sys.executable, "-m", "trainer", "train", "--mixture", mixture, "--config", "tiny",
                "--workdir", str(workdir), "--set", "model.seq_len=32", "--set", "global_batch=4",
                "--log-every", "1", "--eval-every", "0", "--checkpoint-every", "3", "--sync-checkpoints",
                "--prefetch", "0"]

    full = subprocess.run(command(tmp_path / "full"), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    work = tmp_path / "killed"
    proc = subprocess.Popen(command(work), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline and not _checkpoint_steps(work):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    steps = _checkpoint_steps(work)
    assert proc.returncode == -signal.SIGKILL and steps and steps[-1] < 10, (proc.returncode, steps)
    resumed = subprocess.run(command(work), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"step {steps[-1]}" in resumed.stdout, resumed.stdout[-2000:]
    want, got = _losses(tmp_path / "full"), _losses(work)
    assert sorted(want) == list(range(1, 11)) and sorted(got) == list(range(1, 11))
    for step in range(steps[-1] + 1, 11):
        assert abs(want[step] - got[step]) <= 1e-6, (step, want[step], got[step])
