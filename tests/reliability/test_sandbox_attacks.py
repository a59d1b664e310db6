"""Every attack of sandbox_attacks.py against the verifier running as root (CI) and as uid 65534 (production
runs non-root): 0 escapes (no file outside the run, no connection, no write to the verifier's fds, no secret
in any output, no surviving process) and 0 wrong verdicts (each ends rejected with its expected reason).

The kernel layers alone are tested (audit hook off) except where an attack targets the hook itself."""
from __future__ import annotations

import dataclasses
import glob
import os
import secrets
import shutil
import socket
import sys
import tempfile

import pytest

from sandbox.execution import SandboxConfig, SandboxMode, run_tests
from tests.sandbox.helpers import NOBODY, UserWorker, processes_with
from tests.reliability.sandbox_attacks import ATTACKS, TESTS, WRONG, Attack

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = SandboxConfig(cpu_seconds=1, wall_seconds=2, memory_bytes=256 << 20, disk_bytes=8 << 20, max_files=512,
                    max_processes=16, audit_hook=False)
USERS = {"root": None, "nobody": NOBODY} if os.geteuid() == 0 else {"self": None}


@dataclasses.dataclass
class World:
    """What an escape would touch: a world-writable dir, listeners, an inheritable fd of the verifier."""
    outside: str
    tcp: socket.socket
    unix: socket.socket
    abstract: socket.socket
    abstract_name: str
    parent_fd: int
    environ: list[str]

    def expected_entries(self) -> set[str]:
        return {"parent-fd", "listener.sock"}

    def pending_connections(self) -> list[str]:
        found = []
        for name, sock in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            try:
                conn, _ = sock.accept()
                conn.close()
                found.append(name)
            except BlockingIOError:
                pass
        return found


@pytest.fixture(scope="module")
def world():
    outside = tempfile.mkdtemp(prefix="attack-outside-", dir="/tmp")
    os.chmod(outside, 0o777)   # the DAC lets anyone write here: only the sandbox may stop it
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(os.path.join(outside, "listener.sock"))
    os.chmod(os.path.join(outside, "listener.sock"), 0o777)
    unix.listen(8)
    name = "code-mixtures-attack-" + secrets.token_hex(4)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + name)
    abstract.listen(8)
    for s in (tcp, unix, abstract):
        s.setblocking(False)
    path = os.path.join(outside, "parent-fd")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.chmod(path, 0o666)
    os.set_inheritable(fd, True)
    with open("/proc/self/environ", "rb") as f:
        environ = [e.decode("utf-8", "replace") for e in f.read().split(b"\0") if len(e) > 8]
    yield World(outside, tcp, unix, abstract, name, fd, environ)
    os.close(fd)
    for s in (tcp, unix, abstract):
        s.close()
    shutil.rmtree(outside, ignore_errors=True)


@pytest.fixture(scope="module")
def verifiers():
    """user -> a function that calls the verifier as that user (a long-lived worker for uid 65534)."""
    workers = {user: UserWorker(uid) for user, uid in USERS.items() if uid is not None}
    calls = {user: (workers[user].call if user in workers else (lambda fn, *a, **k: fn(*a, **k))) for user in USERS}
    yield calls
    for worker in workers.values():
        worker.close()


def fill(code: str, world: World, mark: str) -> str:
    values = {"@MARK@": mark, "@OUTSIDE@": world.outside, "@PORT@": str(world.tcp.getsockname()[1]),
              "@UNIX@": os.path.join(world.outside, "listener.sock"), "@ABSTRACT@": world.abstract_name,
              "@VPID@": str(os.getpid()), "@FD@": str(world.parent_fd), "@REPO@": REPO}
    for key, value in values.items():
        code = code.replace(key, value)
    return code


def attack_run(attack: Attack, world: World, call):
    mark = "atk" + secrets.token_hex(6)
    cfg = dataclasses.replace(CFG, audit_hook=attack.hook, wall_seconds=attack.wall_seconds)
    verdict = call(run_tests, WRONG + fill(attack.code, world, mark), attack.tests, cfg, entry_point=attack.entry_point)
    return verdict, mark


def escapes(verdict, mark: str, world: World) -> list[str]:
    """Evidence of an escape, looked for outside the sandbox right after the verdict."""
    found = []
    output = verdict.stdout_tail + verdict.stderr_tail + (verdict.reason or "")
    if "ESCAPED" in output:
        found += [line.strip()[:200] for line in output.splitlines() if "ESCAPED" in line]
    stray = set(os.listdir(world.outside)) - world.expected_entries()
    found += [f"file outside the run: {world.outside}/{name}" for name in sorted(stray)]
    for pattern in ("/tmp/*%s*", "/dev/shm/*%s*", "/var/tmp/*%s*"):
        found += [f"file outside the run: {p}" for p in glob.glob(pattern % mark)]
    if os.fstat(world.parent_fd).st_size:
        found.append("wrote to the verifier's inherited fd")
    found += [f"connection to the {name} listener" for name in world.pending_connections()]
    found += [f"secret in output: {e[:40]}" for e in world.environ if e in output]
    found += [f"process survived the verdict: pid {pid}" for pid in processes_with(verdict.run_id, mark)]
    return found


def _clean(world: World) -> None:
    for name in set(os.listdir(world.outside)) - world.expected_entries():
        path = os.path.join(world.outside, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    os.ftruncate(world.parent_fd, 0)
    world.pending_connections()


@pytest.mark.parametrize("user", list(USERS))
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_contained_and_rejected(attack, user, world, verifiers):
    _clean(world)
    verdict, mark = attack_run(attack, world, verifiers[user])
    problems = escapes(verdict, mark, world)
    assert not problems, f"{attack.name} as {user}: {problems}"
    assert not verdict.ok, f"{attack.name} as {user}: a wrong solution passed"
    key = (verdict.reason or "").split(":", 1)[0]
    assert key in attack.expected, f"{attack.name} as {user}: {verdict.reason}"
    assert "seccomp" in verdict.layers and any(x.startswith("landlock") for x in verdict.layers)


def test_suite_is_large_enough():
    assert len(ATTACKS) >= 30 and len({a.name for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("user", list(USERS))
def test_an_attack_cannot_change_the_next_verdict(user, world, verifiers):
    """The issue's inotify attack: an orphan waits for the next run to rewrite its program. Runs after it
    still reject the wrong solution and keep the right one."""
    _clean(world)
    attack = next(a for a in ATTACKS if a.name == "inotify_watch_tmp")
    call = verifiers[user]
    attack_run(attack, world, call)
    wrong = call(run_tests, WRONG, TESTS, CFG)
    right = call(run_tests, "def add(a, b):\n    return a + b\n", TESTS, CFG)
    assert (wrong.ok, right.ok) == (False, True), (wrong.reason, right.reason)


@pytest.mark.parametrize("name", ["chdir_tmp_write", "tcp_localhost", "unix_socket_path", "setsid_sigterm_orphan",
                                  "symlink_escape", "shm_open", "ctypes_syscalls"])
def test_escape_checks_see_an_unconfined_run(name, world, monkeypatch):
    """The checks above can fail: with Landlock, seccomp and namespaces taken away, these attacks escape."""
    from sandbox import execution as sandbox
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    monkeypatch.setattr(sandbox, "_seccomp_hex", lambda allow_signals: (None, "switched off by the test"))
    monkeypatch.setattr(sys.modules[__name__], "CFG", dataclasses.replace(CFG, mode=SandboxMode.BEST_EFFORT, namespaces=False))
    _clean(world)
    verdict, mark = attack_run(next(a for a in ATTACKS if a.name == name), world, lambda fn, *a, **k: fn(*a, **k))
    assert escapes(verdict, mark, world), name
    _clean(world)
