"""Issue 13.11: a full disk during curate, tokenize and mixer build.

Each stage writes onto a small real filesystem (a tmpfs, tests/reliability/disk.py) that fills up
midway. Expected: a one-line error naming the file that could not be written, exit code 1, nothing
published that describes missing or partial data (no report.json, manifest.json or mixture.json of
the failed run), and, once there is room again, a rerun that produces exactly the bytes of a run that
never failed. Non-root runs, where no tmpfs can be mounted, get the mixer case through RLIMIT_FSIZE.
The checkpoint write is in test_checkpoint_failures.py.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.reliability.disk import PAGE, fill, file_size_limit, small_disk, tree
from tests.reliability.stages import REPO, curated_and_tokenizer, published_sources, tokenize_args
from tests.mixer.fixtures import write_manifests


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, **kwargs)


def _one_line_error(proc, prog: str, path_part: str) -> str:
    """The CLI's last word is one line naming the file (Beam may log the worker's traceback before it)."""
    line = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    assert line.startswith(f"{prog}: error:") and path_part in line, proc.stderr[-3000:]
    return line


# ------------------------------------------------------------------------------------------- mixer

def _mixer_argv(tokens, out, code="25"):
    return ["mixer", "build", "--code", code, "--data", str(tokens), "--tokens", "1M", "--seq-len", "64",
            "--output", str(out)]


def test_mixer_build_on_a_full_disk(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"))
    with small_disk(tmp_path / "disk", 64 * PAGE) as disk:
        out = disk / "mix"
        assert _run(_mixer_argv(tokens, out)).returncode == 0
        clean = tree(out)
        for name in os.listdir(out):
            os.unlink(out / name)
        filler = fill(disk, PAGE)            # one page: maxtext_mixture.json fits, mixture.json does not
        proc = _run(_mixer_argv(tokens, out))
        assert proc.returncode == 1
        line = _one_line_error(proc, "mixer build", "mixture.json")
        assert "No space left on device" in line, line
        assert os.listdir(out) == []         # neither file, no temporary: nothing half-published
        os.unlink(filler)
        assert _run(_mixer_argv(tokens, out)).returncode == 0
        assert tree(out) == clean


def test_mixer_build_on_a_full_disk_keeps_the_previous_mixture(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"))
    with small_disk(tmp_path / "disk", 64 * PAGE) as disk:
        out = disk / "mix"
        assert _run(_mixer_argv(tokens, out)).returncode == 0
        before = tree(out)
        fill(disk, 0)
        proc = _run(_mixer_argv(tokens, out, code="30"))
        assert proc.returncode == 1 and tree(out) == before, proc.stderr[-2000:]


def test_mixer_build_past_the_file_size_limit(tmp_path):
    """Any user: RLIMIT_FSIZE makes the 2.5 KB mixture.json fail with EFBIG after the small MaxText file."""
    tokens = write_manifests(str(tmp_path / "TOKENS"))
    out = tmp_path / "mix"
    assert _run(_mixer_argv(tokens, out)).returncode == 0
    clean = tree(out)
    assert len(clean["mixture.json"]) > 1024 > len(clean["maxtext_mixture.json"])
    for name in os.listdir(out):
        os.unlink(out / name)
    proc = _run(_mixer_argv(tokens, out), preexec_fn=file_size_limit(1024))
    assert proc.returncode == 1
    assert "File too large" in _one_line_error(proc, "mixer build", "mixture.json")
    assert os.listdir(out) == []
    assert _run(_mixer_argv(tokens, out)).returncode == 0 and tree(out) == clean


# ---------------------------------------------------------------------------------------- tokenize

@pytest.mark.slow
def test_tokenize_on_a_full_disk(tmp_path):
    curated_and_tokenizer(tmp_path, per_source=6)
    with small_disk(tmp_path / "disk", 2048 * PAGE) as disk:
        out = disk / "tokens"
        argv = ["pipelines.tokenize", *tokenize_args(tmp_path, out, 3)]
        assert _run(argv).returncode == 0
        clean = tree(out)
        used = sum(len(b) for b in clean.values())
        for source in os.listdir(out):
            for name in os.listdir(out / source):
                os.unlink(out / source / name)
        filler = fill(disk, used // 2)
        proc = _run(argv)
        assert proc.returncode == 1
        line = _one_line_error(proc, "tokenize", "No space left on device")
        named = re.search(r"cannot write (\S+):", line)
        assert named and re.search(r"/part-\d{5}-of-00003\.(array_record|lengths)$", named.group(1)), line
        state = published_sources(str(out))
        assert not any(state.values()), state          # every manifest still visible describes complete shards
        assert len(state) < 3                            # and the one that hit the wall published none
        os.unlink(filler)
        assert _run(argv).returncode == 0
        assert tree(out) == clean                        # temporaries gone, bytes as in the clean run


# ------------------------------------------------------------------------------------------ curate

def _math_root(root, n: int = 40) -> None:
    (root / "math").mkdir(parents=True)
    lines = [json.dumps({"id": f"m{i}", "text": f"Exercise {i}: show that the sum of the first {i} odd numbers "
                         f"is {i} squared, then check the claim for {i + 1} and explain every step taken."})
             for i in range(n)]
    (root / "math" / "a.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_curate_on_a_full_disk(tmp_path):
    _math_root(tmp_path / "in")
    with small_disk(tmp_path / "disk", 256 * PAGE) as disk:
        out = disk / "curated"
        argv = ["pipelines.curate", "--input", str(tmp_path / "in"), "--output", str(out), "--no-langid"]
        assert _run(argv).returncode == 0
        clean = tree(out)
        assert len(clean["kept/math/part-00000-of-00001.parquet"]) > 2 * PAGE
        for rel in clean:
            os.unlink(out / rel)
        (out / "report.json").write_text("{}")           # an earlier run's report: must not survive a failure
        filler = fill(disk, 2 * PAGE)                    # the kept shard cannot be written
        proc = _run(argv)
        assert proc.returncode == 1
        line = _one_line_error(proc, "curate", "/math/part-")   # kept/ or rejected/, whichever is written first
        assert "No space left on device" in line, line
        assert not (out / "report.json").exists() and not (out / "report.md").exists()
        os.unlink(filler)
        assert _run(argv).returncode == 0
        assert tree(out) == clean
