"""Issue 24.4 (trainer side): poisoned mixtures and checkpoints never train to NaN with exit 0.

On 17a5377: a mixture whose vocab_size disagreed with its manifests trained to NaN and exited 0 (and
`mixer inspect --check` said ok); total_tokens 1e30 and targets inconsistent with the weights were accepted;
a NaN loss was checkpointed, rotating the last good checkpoint out; 64 bytes of 0xFF in the newest
checkpoint's parameters restored silently.
"""
import json
import os

import jax
import pytest

from mixer.api import check_mixture
from mixer.mixture import MixtureError, load_mixture
from tests.trainer.corpus import make_mixture
from trainer import checkpoint, data, guards
from trainer.train import RunOptions, train

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown
SMALL = (("model.seq_len", "32"), ("global_batch", "4"))
STEP_TOKENS = 4 * 32


def _opts(mixture, workdir, **kw):
    kw = {"overrides": SMALL, "log_every": 1, "eval_every": 0, "async_checkpoints": False, **kw}
    return RunOptions(mixture=mixture, config="tiny", workdir=str(workdir), **kw)


def _edit(path: str, **changes) -> str:
    with open(path) as f:
        body = json.load(f)
    body.update(changes)
    with open(path, "w") as f:
        json.dump(body, f)
    return path


@pytest.fixture(scope="module")
def mixture_path(tmp_path_factory):
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return make_mixture(str(tmp_path_factory.mktemp("data")), documents=80, seq_len=32, total_tokens=STEP_TOKENS * 8)


def _copy(path: str, tmp_path) -> str:
    out = tmp_path / "mixture.json"
    out.write_text(open(path).read())
    return str(out)


def test_a_vocab_size_that_disagrees_with_the_manifests_is_refused(mixture_path, tmp_path):
    path = _edit(_copy(mixture_path, tmp_path), vocab_size=10)
    assert any("vocab_size 10" in p for p in check_mixture(load_mixture(path)))   # mixer inspect --check
    with pytest.raises(data.DataError, match="vocab_size 10"):
        train(_opts(path, tmp_path / "run"))
    assert not os.path.isdir(tmp_path / "run" / "checkpoints") or not os.listdir(tmp_path / "run" / "checkpoints")


def test_an_absurd_total_and_targets_off_the_weights_are_refused(mixture_path, tmp_path):
    path = _edit(_copy(mixture_path, tmp_path), total_tokens=10**30)
    with pytest.raises(MixtureError, match="total_tokens"):
        load_mixture(path)
    body = json.loads(open(mixture_path).read())
    first = sorted(body["sources"])[0]
    body["sources"][first]["target_tokens"] *= 3
    problems = check_mixture(body)
    assert any("target" in p for p in problems), problems


def test_a_nan_loss_stops_before_any_checkpoint_and_keeps_the_good_ones(mixture_path, tmp_path):
    run = tmp_path / "run"
    train(_opts(mixture_path, run, stop_at=4, checkpoint_every=2))
    before = checkpoint.Checkpointer(str(run), read_only=True).all_steps()
    assert before == [2, 4]
    blowup = (*SMALL, ("optim.lr", "1e30"))   # the first update sends every parameter to ~1e29: NaN loss
    with pytest.raises(guards.NonFiniteLoss, match="before writing a checkpoint.*step 4"):
        train(_opts(mixture_path, run, overrides=blowup, checkpoint_every=2, force=True))
    assert checkpoint.Checkpointer(str(run), read_only=True).all_steps() == before


def _param_files(step_dir: str) -> list[str]:
    out = []
    for dirpath, _, names in os.walk(os.path.join(step_dir, "state")):
        out += [os.path.join(dirpath, n) for n in names if os.path.getsize(os.path.join(dirpath, n)) > 256]
    return sorted(out, key=os.path.getsize, reverse=True)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(mixture_path, tmp_path):
    run = tmp_path / "run"
    train(_opts(mixture_path, run, stop_at=4, checkpoint_every=2))
    files = _param_files(str(run / "checkpoints" / "4"))
    assert files
    with open(files[0], "r+b") as f:   # 64 bytes of 0xFF in the middle of the largest parameter file
        f.seek(os.path.getsize(files[0]) // 2)
        f.write(b"\xff" * 64)
    lines = []
    summary = train(_opts(mixture_path, run, stop_at=6), log=lines.append)
    said = "\n".join(lines)
    assert "checkpoint step 4" in said and "corrupt" in said and "resumed from" in said
    assert "step 2" in said.split("resumed from", 1)[1].splitlines()[0] or "step 2" in said
    assert summary["step"] == 6
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]
    assert all(r["loss"] == r["loss"] for r in records if r.get("kind") == "train")   # no NaN


def test_the_state_digest_sees_one_flipped_bit():
    import jax.numpy as jnp
    import numpy as np

    params = {"w": jnp.arange(12, dtype=jnp.float32).reshape(3, 4), "b": jnp.ones(3, jnp.bfloat16)}
    recorded = guards.state_digest(params)
    assert guards.digest_mismatch(params, recorded) is None
    bits = np.asarray(params["w"]).view(np.uint32).copy()
    bits[1, 2] ^= 1                                   # the lowest mantissa bit of one value
    flipped = dict(params, w=jnp.asarray(bits.view(np.float32)))
    assert "['w']" in guards.digest_mismatch(flipped, recorded)


def test_a_hung_restore_becomes_an_error_naming_the_step():
    import threading

    never = threading.Event()
    with pytest.raises(checkpoint.ResumeTimeout, match="step 7 .*did not finish in 0 s"):
        checkpoint._with_timeout(never.wait, 0.2, "restoring checkpoint step 7 under /x")


def test_a_second_trainer_on_one_workdir_refuses_naming_the_first(mixture_path, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.reliability.stages import REPO
    from tokens import run_lock

    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "trainer", "train", "--mixture", mixture_path, "--config", "tiny",
                              "--workdir", str(run), "--set", "model.seq_len=32", "--set", "global_batch=4",
                              "--eval-every", "0", "--prefetch", "0"], cwd=REPO,
                             env=dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not (run / run_lock.LOCK_NAME).exists():
            assert first.poll() is None and time.time() < deadline, first.stderr.read()[-2000:]
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGSTOP)   # holds the workdir while the second one tries
        with pytest.raises(run_lock.FolderLocked, match=f"in use by another run: trainer run by .* pid {first.pid}"):
            train(_opts(mixture_path, run))
    finally:
        os.killpg(first.pid, signal.SIGCONT)
        first.wait(timeout=600)
    assert first.returncode == 0
    assert not (run / run_lock.LOCK_NAME).exists()
