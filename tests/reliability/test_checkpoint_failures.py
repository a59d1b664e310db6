"""Issue 13.11, trainer side: a checkpoint write that cannot finish, by a full disk or by SIGKILL.

Orbax writes step N into `N.orbax-checkpoint-tmp*` and renames it to `N` once complete; the trainer
resumes from the latest complete step. Both tests check that mechanism from outside: the step whose
write failed is never listed as a checkpoint, the rerun says which step it resumed from, leaves no
temporary behind (Checkpointer opens with cleanup_tmp_directories), and its losses after that step
equal those of a run that was never interrupted.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.reliability.disk import grow, small_disk
from tests.reliability.stages import REPO

TMP = re.compile(r"^(\d+)\.orbax-checkpoint-tmp")
STEPS = 10


def _command(mixture, workdir, every: int, sync: bool) -> list[str]:
    return [sys.executable, "-m", "trainer", "train", "--mixture", mixture, "--config", "tiny", "--workdir",
            str(workdir), "--set", "model.seq_len=32", "--set", "global_batch=4", "--log-every", "1",
            "--eval-every", "0", "--checkpoint-every", str(every), "--prefetch", "0",
            *(["--sync-checkpoints"] if sync else [])]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")


def _run(command) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)


def _losses(workdir) -> dict[int, float]:
    out = {}
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if record.get("kind") == "train":
                out[record["step"]] = record["loss"]      # a resumed run rewrites the steps after its checkpoint
    return out


def _listing(workdir) -> tuple[list[int], list[str]]:
    """(complete steps, temporaries) under WORKDIR/checkpoints."""
    folder = os.path.join(workdir, "checkpoints")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(int(n) for n in names if n.isdigit()), sorted(n for n in names if TMP.match(n))


def _same_losses_after(resumed_from: int, want: dict, got: dict) -> None:
    assert sorted(want) == list(range(1, STEPS + 1)) and sorted(got) == list(range(1, STEPS + 1)), (want, got)
    for step in range(resumed_from + 1, STEPS + 1):
        assert abs(want[step] - got[step]) <= 1e-6, (step, want[step], got[step])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from tests.trainer.corpus import make_mixture

    base = tmp_path_factory.mktemp("ckpt")
    mixture = make_mixture(str(base / "data"), documents=100, seq_len=32, total_tokens=4 * 32 * STEPS)
    done = _run(_command(mixture, base / "full", every=3, sync=False))
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = os.path.join(base / "full", "checkpoints", str(STEPS))
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(checkpoint) for n in ns)
    return mixture, _losses(base / "full"), size


@pytest.mark.slow
def test_checkpoint_write_on_a_full_disk(uninterrupted, tmp_path):
    """Room for about two and a half checkpoints: the third save (step 9) fails midway."""
    mixture, want, checkpoint_bytes = uninterrupted
    with small_disk(tmp_path / "disk", int(2.5 * checkpoint_bytes) + (512 << 10)) as disk:
        work = disk / "run"
        failed = _run(_command(mixture, work, every=3, sync=False))
        assert failed.returncode == 1, failed.stderr[-3000:]
        error = [line for line in failed.stderr.splitlines() if line.startswith("trainer: error:")]
        assert error and "cannot write checkpoint" in error[0] and str(work / "checkpoints") in error[0], \
            failed.stderr[-3000:]
        assert "No space left on device" in error[0] or "RESOURCE_EXHAUSTED" in error[0], error[0]
        complete, leftovers = _listing(work)
        assert complete and complete[-1] < STEPS, (complete, leftovers)
        assert f"latest complete checkpoint is step {complete[-1]}" in error[0], error[0]
        grow(disk, 64 << 20)
        resumed = _run(_command(mixture, work, every=3, sync=False))
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert f"resumed from {work / 'checkpoints'} step {complete[-1]}" in resumed.stdout, resumed.stdout[-2000:]
        assert _listing(work)[1] == []                      # the failed save's temporary is gone
        _same_losses_after(complete[-1], want, _losses(work))


@pytest.mark.slow
def test_trainer_killed_inside_a_checkpoint_write(uninterrupted, tmp_path):
    """checkpoint_every 1, synchronous saves: SIGKILL the moment a step's temporary folder appears (after a
    complete checkpoint exists), so the kill lands inside Orbax's write, before its rename."""
    mixture, want, _ = uninterrupted
    for attempt in range(3):   # the rename may win the race against the kill: then try again
        work = tmp_path / f"run{attempt}"
        proc = subprocess.Popen(_command(mixture, work, every=1, sync=True), cwd=REPO, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, seen = time.monotonic() + 600, None
        while proc.poll() is None and time.monotonic() < deadline:
            complete, leftovers = _listing(work)
            if complete and leftovers:
                proc.send_signal(signal.SIGKILL)
                seen = leftovers
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        complete, leftovers = _listing(work)
        writing = {int(TMP.match(n).group(1)) for n in leftovers}
        if seen and leftovers and not writing & set(complete):
            break
    else:
        pytest.fail("never caught the trainer inside a checkpoint write in 3 attempts")
    assert proc.returncode == -signal.SIGKILL
    assert complete and max(writing) > complete[-1] and complete[-1] < STEPS, (complete, leftovers)
    resumed = _run(_command(mixture, work, every=1, sync=True))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {work / 'checkpoints'} step {complete[-1]}" in resumed.stdout, resumed.stdout[-2000:]
    assert _listing(work)[1] == []
    _same_losses_after(complete[-1], want, _losses(work))
