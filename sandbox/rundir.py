"""A run's private directory: made fresh, removed without ever following a link, swept when a killed job left it.

The directory's name carries the verifier's pid and that process's start time, so a later verifier can tell a
live run's directory (keep) from one whose job was killed (`kill -9` of curate leaves `/tmp/sandbox-*`
behind): `sweep_stale` removes the latter, once per process, for directories this uid owns.
"""
from __future__ import annotations

import functools
import os
import secrets
import shutil
import stat
import tempfile

PREFIX = "sandbox-"


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def owner_tag() -> str:
    """This process's pid and start time (not cached: a forked worker is a verifier of its own)."""
    return f"{os.getpid()}.{process_start(os.getpid()) or 0}"


def make(tmp_root: str | None, uid: int | None) -> tuple[str, str]:
    """(outer, work): outer is ours (0700, or 0711 when another uid must traverse it); work has a random
    name inside, owned by the sandbox uid; nothing is ever reused."""
    outer = tempfile.mkdtemp(prefix=f"{PREFIX}{owner_tag()}-", dir=tmp_root)
    work = os.path.join(outer, secrets.token_hex(8))
    os.mkdir(work, 0o700)
    if uid is not None:
        os.chown(work, uid, uid)
        os.chmod(outer, 0o711)   # traverse only: the random name of `work` cannot be listed
    return outer, work


def remove(path: str) -> bool:
    """Remove the tree at `path` whatever modes the run left (000 dirs included) and never follow a
    symlink: only real directories get chmod 0700, found with lstat through their parent's fd.
    Called once every process of the run is gone, so nothing swaps an entry between lstat and chmod.
    Returns True when `path` no longer exists."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return True
        os.chmod(path, 0o700)
        for _root, dirs, _files, root_fd in os.fwalk(path, follow_symlinks=False):
            for name in dirs:
                try:
                    if stat.S_ISDIR(os.stat(name, dir_fd=root_fd, follow_symlinks=False).st_mode):
                        os.chmod(name, 0o700, dir_fd=root_fd)
                except OSError:
                    pass
    except FileNotFoundError:
        return True
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)   # fd-based on Linux: symlinks are unlinked, never followed
    return not os.path.lexists(path)


def sweep_stale(tmp_root: str | None) -> list[str]:
    """Remove run dirs this uid owns whose verifier process is gone; returns what was removed."""
    root = tmp_root or tempfile.gettempdir()
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        tag = entry.name[len(PREFIX):].split("-", 1)[0]
        pid, _, started = tag.partition(".")
        if not pid.isdigit() or not started.isdigit():
            continue   # not a name this module makes
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
        except OSError:
            continue
        if process_start(int(pid)) == started:
            continue   # its verifier is alive: a run in progress
        if remove(entry.path):
            removed.append(entry.path)
    return removed


@functools.lru_cache(maxsize=8)
def sweep_once(tmp_root: str | None) -> tuple[str, ...]:
    """sweep_stale the first time a process verifies into `tmp_root`."""
    return tuple(sweep_stale(tmp_root))
