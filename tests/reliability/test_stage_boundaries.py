"""Issue 24: a kill at each stage boundary, then the next stage: refused or resumed, never consumed partially.

curate -> tokenize: tests/reliability/test_run_ownership.py (killed curate refused, rerun takes over).
tokenize -> mixer:  here (a killed re-tokenization; a manifest whose shard is gone).
mixer -> trainer:   here (mixer build SIGKILLed at many points: the trainer's loader gets a whole mixture or
                    refuses).
trainer save:       tests/reliability/test_checkpoint_failures.py::test_trainer_killed_inside_a_checkpoint_write
                    and test_crash.py::test_sigkilled_trainer_resumes_to_the_same_losses (slow): resumed from
                    the last complete checkpoint; test_poisoned_training.py: a corrupt newest one is skipped.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from mixer.mixture import MixtureError, load_mixture
from tests.mixer.fixtures import run_mixer
from tests.reliability.stages import REPO, curated_and_tokenizer, tokenize_args


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO))


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """A curated sample, its tokenizer, and a complete TOKENS folder (3 shards per source)."""
    from pipelines import tokenize

    root = tmp_path_factory.mktemp("boundary")
    docs = curated_and_tokenizer(root, per_source=10)
    tokenize.run(tokenize_args(root, root / "tokens", 3))
    return root, sorted(docs)


def _build(tokens_dir, out, sources) -> subprocess.CompletedProcess:
    weights = ",".join(f"{s}=1" for s in sources)
    return run_mixer("build", "--weights", weights, "--data", str(tokens_dir), "--tokens", "2K", "--seq-len", "32",
                     "--allow-repeat", "--output", str(out))


def test_a_killed_retokenization_is_refused_by_the_mixer(tokens, tmp_path):
    root, sources = tokens
    out = tmp_path / "tokens"
    import shutil
    shutil.copytree(root / "tokens", out)
    assert _build(out, tmp_path / "mix0", sources).returncode == 0   # the complete folder mixes
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.tokenize", *tokenize_args(root, out, 2)], cwd=REPO,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:   # killed once it has retracted a manifest (its shards are being rewritten)
        deadline = time.time() + 300
        while all((out / s / "manifest.json").exists() for s in sources):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    missing = [s for s in sources if not (out / s / "manifest.json").exists()]
    assert missing
    result = _build(out, tmp_path / "mix", sources)
    assert result.returncode != 0 and missing[0] in result.stderr and "manifest.json" in result.stderr
    assert not (tmp_path / "mix" / "mixture.json").exists()


def test_a_manifest_whose_shard_is_gone_is_refused_by_the_mixer(tokens, tmp_path):
    root, sources = tokens
    import shutil
    out = tmp_path / "tokens"
    shutil.copytree(root / "tokens", out)
    (out / sources[0] / "part-00001-of-00003.array_record").unlink()
    result = _build(out, tmp_path / "mix", sources)
    assert result.returncode != 0
    assert "does not cover its shards: part-00001-of-00003.array_record (missing)" in result.stderr, result.stderr


def test_mixer_build_killed_at_any_point_leaves_a_whole_mixture_or_none(tokens, tmp_path):
    root, sources = tokens
    weights = ",".join(f"{s}=1" for s in sources)
    outcomes = set()
    for i, delay in enumerate((0.3, 0.8, 1.5, 2.5, 4.0, 8.0)):
        out = tmp_path / f"mix{i}"
        proc = subprocess.Popen([sys.executable, "-m", "mixer", "build", "--weights", weights, "--data",
                                 str(root / "tokens"), "--tokens", "2K", "--seq-len", "32", "--allow-repeat",
                                 "--output", str(out)], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        path = out / "mixture.json"
        if path.exists():   # published: whole, with its MaxText twin, and loadable with every shard present
            assert (out / "maxtext_mixture.json").exists()
            assert sorted(load_mixture(str(path))["sources"]) == sources
            outcomes.add("complete")
        else:               # not published: the trainer's loader refuses, naming the file
            with pytest.raises(MixtureError, match="cannot read mixture"):
                load_mixture(str(path))
            outcomes.add("refused")
    assert outcomes   # each run ended in one of the two states; which ones depends on timing
