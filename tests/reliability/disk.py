"""A small real filesystem for full-disk tests: a tmpfs mounted in the test's own folder.

Mounting needs root (CI runs as root); elsewhere `small_disk` skips with that reason, and the
non-root variants of the tests limit the file size with RLIMIT_FSIZE instead (`file_size_limit`),
which the kernel enforces for any user (writes past it fail with EFBIG).
"""
from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess

import pytest

PAGE = 4096


@contextlib.contextmanager
def small_disk(path, size_bytes: int):
    """Mount a tmpfs of `size_bytes` at `path` (created); unmounted afterwards, whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root); the RLIMIT_FSIZE variant covers non-root runs")
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (no CAP_SYS_ADMIN in this container?): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def free_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave_bytes: int) -> str:
    """Take all but `leave_bytes` of the free space with a filler file; returns its path (delete it to free)."""
    filler = os.path.join(str(path), "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free_bytes(path) - leave_bytes))
    return filler


def grow(path, size_bytes: int) -> None:
    """Give a mounted tmpfs more room (a rerun "with space")."""
    subprocess.run(["mount", "-o", f"remount,size={size_bytes}", str(path)], check=True)


def file_size_limit(max_bytes: int):
    """preexec_fn for a subprocess: any write past `max_bytes` in one file fails with EFBIG (any user)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # else the kernel kills the process instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def tree(root) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes)."""
    return {os.path.relpath(os.path.join(d, n), root): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(root) for n in names}
