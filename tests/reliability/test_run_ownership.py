"""Issue 24.1, 24.2, 24.8: one run per output folder, a user's files untouched, finished output only.

On 17a5377: two curates into one --output both exited 0 (the report described the second, kept/ held the
first's sources); a run deleted a user's report.md before writing anything; tokenize consumed a killed
curate's partial output; a read-only --output printed two Beam tracebacks before its one-line error.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.pipelines.curate_fixture import build_root
from tests.reliability.stages import REPO
from tokens import completion, run_lock

CURATE = [sys.executable, "-m", "pipelines.curate", "--no-langid", "--sources", "slimpajama,commits,math"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO))


def _curate(raw, out, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([*CURATE, "--input", str(raw), "--output", str(out), *extra], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _wait_for(predicate, timeout: float = 300.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) first: {proc.stderr.read()[-2000:]}")
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def tokenizer_model(tmp_path_factory):
    from tests.pipelines.curated_sample import documents, train_tokenizer

    path = tmp_path_factory.mktemp("tok") / "tokenizer.model"
    path.write_bytes(train_tokenizer(documents(10)))
    return str(path)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    build_root(root)
    return root


def test_a_second_curate_into_the_same_output_refuses_naming_the_first(raw, tmp_path):
    out = tmp_path / "out"
    first = _curate(raw, out)
    try:   # the first run is paused while it holds the folder, so the two surely overlap
        _wait_for(lambda: (out / run_lock.LOCK_NAME).exists(), proc=first)
        os.killpg(first.pid, signal.SIGSTOP)
        second = subprocess.run([*CURATE, "--input", str(raw), "--output", str(out), "--sources", "math"],
                                cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 1
    message = second.stderr.strip().splitlines()[-1]
    assert "in use by another run" in message and f"pid {first.pid}" in message and "curate" in message
    assert "Traceback" not in second.stderr
    report = json.loads((out / "report.json").read_text())
    assert sorted(report["sources"]) == ["commits", "math", "text"]   # the first run's, untouched
    assert not (out / run_lock.LOCK_NAME).exists()                     # released at the end


def test_a_users_report_md_is_never_deleted_or_overwritten(raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("my notes\n")
    done = subprocess.run([*CURATE, "--input", str(raw), "--output", str(out)], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "report.md" in done.stderr and "Move them away" in done.stderr
    assert (out / "report.md").read_text() == "my notes\n"
    assert not (out / run_lock.LOCK_NAME).exists()


def test_a_killed_curate_is_refused_by_tokenize_and_a_rerun_takes_over(raw, tmp_path, tokenizer_model):
    """Boundary curate -> tokenize: a complete run, then a second run SIGKILLed once it has retracted the
    first run's record (so kept/ may hold any mix of old and new shards): tokenize refuses, naming the
    missing record; a rerun reports the stale lock, takes the folder over and finishes."""
    from pipelines import tokenize

    out = tmp_path / "out"
    assert subprocess.run([*CURATE, "--input", str(raw), "--output", str(out), "--num-shards", "4"], cwd=REPO,
                          env=_env(), capture_output=True, timeout=600).returncode == 0
    assert (out / completion.RECORD_NAME).exists()
    second = _curate(raw, out, "--num-shards", "4")
    try:
        _wait_for(lambda: (out / run_lock.LOCK_NAME).exists() and not (out / completion.RECORD_NAME).exists(),
                  proc=second)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    with pytest.raises(SystemExit, match="has no _COMPLETE.json: the curate run that writes it did not finish"):
        tokenize.run(["--input", str(out), "--tokenizer", tokenizer_model, "--output", str(tmp_path / "tok")])
    assert not (tmp_path / "tok").exists()   # refused before writing anything
    rerun = subprocess.run([*CURATE, "--input", str(raw), "--output", str(out), "--num-shards", "4"], cwd=REPO,
                           env=_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "stale lock" in rerun.stderr and f"pid {second.pid}" in rerun.stderr
    record = completion.require_complete(str(out), "curate")
    assert record["ok"] is True and any(r.startswith("kept/text/part-") for r in record["files"])
    manifests = tokenize.run(["--input", str(out), "--tokenizer", tokenizer_model, "--output", str(tmp_path / "tok"),
                              "--num-shards", "2"])
    assert sorted(manifests) == ["commits", "math", "text"]


def test_a_missing_or_resized_shard_is_named(raw, tmp_path):
    from pipelines.sources.curated import kept_shards

    out = tmp_path / "out"
    assert subprocess.run([*CURATE, "--input", str(raw), "--output", str(out), "--num-shards", "2"], cwd=REPO,
                          env=_env(), capture_output=True, timeout=600).returncode == 0
    assert set(kept_shards(str(out))) == {"commits", "math", "text"}
    victim = sorted((out / "kept" / "text").glob("*.parquet"))[-1]      # any listed shard
    victim.unlink()
    with pytest.raises(SystemExit, match=rf"kept/text/{re.escape(victim.name)} \(missing\)"):
        kept_shards(str(out))


def test_stale_and_live_locks(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / run_lock.LOCK_NAME).write_text(json.dumps({"job": "curate", "user": "u", "host": socket.gethostname(),
                                                         "pid": dead.pid, "started": "then", "command": "c",
                                                         "token": "t"}))
    with run_lock.hold(str(folder), "tokenize", "me"):   # certainly dead: taken over, and said so
        assert json.loads((folder / run_lock.LOCK_NAME).read_text())["job"] == "tokenize"
        with pytest.raises(run_lock.FolderLocked, match="in use by another run: tokenize run by"):
            with run_lock.hold(str(folder), "curate"):
                pass
    assert "stale lock" in capsys.readouterr().err
    assert not (folder / run_lock.LOCK_NAME).exists()
    (folder / run_lock.LOCK_NAME).write_text(json.dumps({"job": "curate", "host": "elsewhere", "pid": 1}))
    with pytest.raises(run_lock.FolderLocked, match=r"rm .*_LOCK.json"):   # cannot tell: refuse, say how
        with run_lock.hold(str(folder), "curate"):
            pass


def test_a_read_only_output_is_one_line_without_tracebacks(raw, tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("a read-only mount needs root (CI runs as root; root ignores permission bits)")
    try:
        done = subprocess.run([*CURATE, "--input", str(raw), "--output", str(mount / "out")], cwd=REPO,
                              env=_env(), capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1].startswith("curate: error:") and "Read-only" in done.stderr
