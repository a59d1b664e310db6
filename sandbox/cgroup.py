"""Per-run limits that hold across every process of a run: a fresh cgroup per run (memory, pids, CPU bandwidth).

rlimits are per process (12 processes x 400 MiB fit under a "512 MiB" RLIMIT_AS) or per uid (RLIMIT_NPROC:
concurrent runs as uid 65534 share it). A cgroup counts the whole run: memory (RSS + page cache, swap too
where memsw exists), number of tasks, and one CPU of bandwidth (with the wall limit, a run's total CPU
time stays under wall_seconds CPU-seconds however many processes it starts).

cgroup v2 where the verifier may create a child of its own cgroup with these controllers; else cgroup v1
(one directory per controller). Creating cgroups needs write access to the hierarchy: root, or a delegated
subtree (systemd `Delegate=yes`). Without it `create` returns None, the run keeps its rlimits and the
verdict's layers lack "cgroup" (SECURITY.md says what that leaves open).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import time

from sandbox import rundir

ROOT = "/sys/fs/cgroup"
PREFIX = "code-mixtures-sandbox-"
V1_CONTROLLERS = ("memory", "pids", "cpu")
PERIOD_US = 100_000


@dataclasses.dataclass(frozen=True)
class RunCgroup:
    version: int
    dirs: tuple[str, ...]          # the launcher writes its pid into each dir's cgroup.procs

    def layer(self) -> str:
        return f"cgroup v{self.version} (memory, pids, cpu)"

    def oom_killed(self) -> bool:
        """Did the kernel kill a process of the run for the memory limit?"""
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    with open(os.path.join(d, name)) as f:
                        for line in f:
                            parts = line.split()
                            if len(parts) == 2 and parts[0] == key and int(parts[1]) > 0:
                                return True
                except (OSError, ValueError):
                    continue
        return False

    def remove(self) -> None:
        """rmdir every dir; its processes are gone (a reaped task can linger a moment: retry briefly)."""
        for d in self.dirs:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)


def _own_path(controller: str | None) -> str:
    """This process's cgroup path in a v1 controller's hierarchy, or in the v2 one (controller None)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, names, path = line.rstrip("\n").split(":", 2)
                if (controller is None and names == "") or (controller and controller in names.split(",")):
                    return path
    except (OSError, ValueError):
        pass
    return "/"


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _v2(name: str, memory: int, pids: int) -> RunCgroup | None:
    base = ROOT if os.path.exists(os.path.join(ROOT, "cgroup.controllers")) else None
    if base is None:
        return None
    parent = os.path.join(base, _own_path(None).lstrip("/"))
    try:
        _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids +cpu")
    except OSError:
        pass   # already enabled, or not ours to enable: the check below decides
    d = os.path.join(parent, name)
    try:
        os.mkdir(d, 0o700)
    except OSError:
        return None
    try:
        _write(os.path.join(d, "memory.max"), str(memory))
        if os.path.exists(os.path.join(d, "memory.swap.max")):
            _write(os.path.join(d, "memory.swap.max"), "0")
        _write(os.path.join(d, "pids.max"), str(pids))
        _write(os.path.join(d, "cpu.max"), f"{PERIOD_US} {PERIOD_US}")
    except OSError:
        RunCgroup(2, (d,)).remove()
        return None
    return RunCgroup(2, (d,))


def _v1(name: str, memory: int, pids: int) -> RunCgroup | None:
    made = []
    try:
        for controller in V1_CONTROLLERS:
            d = os.path.join(ROOT, controller, _own_path(controller).lstrip("/"), name)
            os.mkdir(d, 0o700)
            made.append(d)
            if controller == "memory":
                _write(os.path.join(d, "memory.limit_in_bytes"), str(memory))
                if os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes")):
                    _write(os.path.join(d, "memory.memsw.limit_in_bytes"), str(memory))
            elif controller == "pids":
                _write(os.path.join(d, "pids.max"), str(pids))
            else:
                _write(os.path.join(d, "cpu.cfs_period_us"), str(PERIOD_US))
                _write(os.path.join(d, "cpu.cfs_quota_us"), str(PERIOD_US))
    except OSError:
        RunCgroup(1, tuple(made)).remove()
        return None
    return RunCgroup(1, tuple(made))


def _parents() -> list[str]:
    parents = [os.path.join(ROOT, _own_path(None).lstrip("/"))] if os.path.exists(
        os.path.join(ROOT, "cgroup.controllers")) else []
    return parents + [os.path.join(ROOT, c, _own_path(c).lstrip("/")) for c in V1_CONTROLLERS]


@functools.lru_cache(maxsize=1)
def sweep_stale() -> tuple[str, ...]:
    """rmdir the run cgroups whose verifier is gone (a killed job), once per process; a live one is kept."""
    removed = []
    for parent in _parents():
        try:
            names = [n for n in os.listdir(parent) if n.startswith(PREFIX)]
        except OSError:
            continue
        for name in names:
            pid, _, started = name[len(PREFIX):].split("-", 1)[0].partition(".")
            if pid.isdigit() and started.isdigit() and rundir.process_start(int(pid)) != started:
                try:
                    os.rmdir(os.path.join(parent, name))
                    removed.append(os.path.join(parent, name))
                except OSError:
                    pass
    return tuple(removed)


def create(run_id: str, memory_bytes: int, max_processes: int) -> RunCgroup | None:
    """A fresh cgroup for one run, or None where this process may not make one. Its name carries the
    verifier's pid and start time, so a later verifier can sweep what a killed job left."""
    sweep_stale()
    name = f"{PREFIX}{rundir.owner_tag()}-{run_id}"
    return _v2(name, memory_bytes, max_processes) or _v1(name, memory_bytes, max_processes)
