"""The verdict is built from executed tests, in two processes; the last sandbox holes are closed.

Part 1: every case of verdict_cases.py (a wrong solution 17a5377 kept) is rejected with its reason, through
curate's hook (pipelines.verify.synthetic), as root and as uid 65534; the same tests keep a correct solution.
Part 2: escapes and limits, each with an observer outside the sandbox: a datagram listener on a pathname
socket, an outside process that a signal would kill, file modes outside the run, the run dirs on disk, the
memory a run holds across processes; plus concurrent runs and stdlib imports of correct solutions.
"""
from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread  # noqa: F401  (imported as root: uid 65534 cannot read CI's interpreter)
import dataclasses
import errno
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from pipelines.document import Document
from pipelines.verify.synthetic import VerifyConfig, verification_reason
from sandbox import execution, rundir
from sandbox.execution import SandboxConfig, run_tests
from tests.reliability.verdict_cases import CASES, Case
from tests.sandbox.helpers import NOBODY, UserWorker

ROOT = os.geteuid() == 0
USERS = {"root": None, "nobody": NOBODY} if ROOT else {"self": None}
CFG = SandboxConfig(cpu_seconds=2, wall_seconds=10, memory_bytes=256 << 20, max_processes=16)
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"


@pytest.fixture(scope="module")
def verifiers():
    workers = {user: UserWorker(uid) for user, uid in USERS.items() if uid is not None}
    yield {user: (workers[user].call if user in workers else (lambda fn, *a, **k: fn(*a, **k))) for user in USERS}
    for worker in workers.values():
        worker.close()


def record(case: Case, solution: str | None = None) -> Document:
    solution = case.solution if solution is None else solution
    meta = {"solution": solution, "tests": case.tests}
    if case.entry_point is not None:
        meta["entry_point"] = case.entry_point
    if case.setup:
        meta["test_setup"] = case.setup
    return Document(case.name, "synthetic", solution, meta)


def test_the_case_list_covers_the_issue():
    assert len(CASES) >= 25 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("user", list(USERS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_wrong_solution_is_rejected_with_its_reason(case, user, verifiers):
    reason = verifiers[user](verification_reason, record(case), VerifyConfig(sandbox=CFG))
    assert reason is not None and reason.split(":", 1)[0] == case.reason, reason


@pytest.mark.parametrize("case", [c for c in CASES if c.reason == "tests_failed" and c.solution.endswith(
    "return a - b\n") and "check" not in c.tests[:12] or c.name == "entry_point_trailing_space"],
    ids=lambda c: c.name)
def test_the_same_tests_keep_a_correct_solution(case):
    """The layouts are collected, not refused: with `add` right, the same record is kept."""
    fixed = case.solution.replace("return a - b", "return a + b")
    assert verification_reason(record(case, fixed), VerifyConfig(sandbox=CFG)) is None


def test_a_pass_counts_what_ran():
    verdict = run_tests(RIGHT, "assert add(1, 2) == 3\ndef test_more():\n    for i in range(5):\n"
                        "        assert add(i, i) == 2 * i\n", CFG)
    assert verdict.ok and verdict.asserts_run == 6 and verdict.solution_calls == 6


@pytest.mark.parametrize("solution, tests", [
    # a generator, a class with methods, in-place mutation copied back, exceptions by type, keyword arguments
    ("def evens(n):\n    for i in range(0, n, 2):\n        yield i\n", "assert list(evens(7)) == [0, 2, 4, 6]\n"),
    ("class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n"
     "        self.items.append(x)\n    def pop(self):\n        return self.items.pop()\n    def __len__(self):\n"
     "        return len(self.items)\n",
     "s = Stack()\ns.push(1)\ns.push(2)\nassert len(s) == 2 and s.pop() == 2 and s.items == [1]\n"),
    ("def sort_in_place(xs):\n    xs.sort()\n", "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]\n"),
    ("def parse(s):\n    return int(s)\n", "try:\n    parse('x')\n    assert False\nexcept ValueError:\n    pass\n"
     "assert parse('4') == 4\n"),
    ("class Bad(Exception):\n    pass\ndef f(x):\n    if x < 0:\n        raise Bad('neg')\n    return x\n",
     "import unittest\nclass T(unittest.TestCase):\n    def test_f(self):\n        self.assertEqual(f(2), 2)\n"
     "        with self.assertRaises(Bad):\n            f(-1)\n"),
    # a module-level table over the per-name size: a handle, indexed remotely
    ("TABLE = list(range(300000))\ndef at(i):\n    return TABLE[i]\n",
     "assert at(5) == 5 and TABLE[7] == 7 and len(TABLE) == 300000\n"),
    ("def scale(xs, *, by=1.0):\n    return [x * by for x in xs]\n", "import math\n"
     "assert all(math.isclose(a, b) for a, b in zip(scale([1, 2], by=0.5), [0.5, 1.0]))\n"),
])
def test_correct_solutions_cross_the_process_boundary(solution, tests):
    verdict = run_tests(solution, tests, CFG)
    assert verdict.ok, (verdict.reason, verdict.stderr_tail[-1500:])


def test_a_caught_unplain_value_still_fails():
    tests = "try:\n    assert add(2, 2) == 4\nexcept BaseException:\n    pass\nassert add(1, 1) == 2 or True\n"
    solution = "class _A:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return _A()\n"
    assert run_tests(solution, tests, CFG).reason == "unplain_return: _A"


# ---------------------------------------------------------------- part 2: holes, each with an outside observer

@pytest.fixture
def outside():
    path = tempfile.mkdtemp(prefix="verdict-outside-", dir="/tmp")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


DGRAM = """
import socket
def add(a, b):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET, socket.SOCK_STREAM):
        try:
            left, right = socket.socketpair(socket.AF_UNIX, kind)
            left.sendto(b"ESCAPED @MARK@", "@PATH@")
        except OSError:
            pass
    return a + b
"""


@pytest.mark.parametrize("user", list(USERS))
def test_no_unix_datagram_reaches_a_pathname_socket(user, verifiers, outside):
    path = os.path.join(outside, "dgram.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    os.chmod(path, 0o777)
    listener.setblocking(False)
    mark = secrets.token_hex(4)
    code = DGRAM.replace("@MARK@", mark).replace("@PATH@", path)
    verdict = verifiers[user](run_tests, code, "assert add(2, 2) == 4\n", dataclasses.replace(CFG, audit_hook=False))
    try:
        received = listener.recv(4096)
    except BlockingIOError:
        received = b""
    listener.close()
    assert received == b"", f"the sandbox sent a datagram out: {received!r}"
    assert verdict.ok, verdict.reason   # a stream socketpair (asyncio's) still works


LISTMOUNT = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def add(a, b):
    found = []
    for number in (457, 458):
        buf = ctypes.create_string_buffer(4096)
        req = (ctypes.c_uint64 * 4)(32, 0xFFFFFFFF, 0, 0)   # size, mnt_id (LSMT_ROOT), param, ...
        result = libc.syscall(number, req, buf, 512, 0)
        found.append(ctypes.get_errno() if result < 0 else 0)
    return found
"""


@pytest.mark.parametrize("user", list(USERS))
def test_listmount_and_statmount_are_denied(user, verifiers):
    verdict = verifiers[user](run_tests, LISTMOUNT, f"assert add(1, 2) == [{errno.EPERM}, {errno.EPERM}]\n",
                              dataclasses.replace(CFG, audit_hook=False))
    assert verdict.ok, verdict.reason


FSETOWN = """
import fcntl, os, signal
def add(a, b):
    r, w = os.pipe()
    try:
        fcntl.fcntl(r, fcntl.F_SETOWN, @PID@)
        fcntl.fcntl(r, 10, int(signal.SIGKILL))          # F_SETSIG
        fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)
        os.write(w, b"x")
    except OSError:
        pass
    return a - b
"""


@pytest.mark.parametrize("user", list(USERS))
def test_fsetown_cannot_signal_outside_without_the_landlock_scope(user, verifiers, monkeypatch):
    """Landlock ABI 5 (no signal scope) and no PID namespace, as on older kernels: F_SETOWN + F_SETSIG + O_ASYNC
    would deliver SIGKILL to a same-uid process outside the run. That process must survive."""
    uid = NOBODY if user == "nobody" else os.geteuid()
    victim = subprocess.Popen(["sleep", "60"], user=uid if ROOT else None)
    try:
        cfg = dataclasses.replace(CFG, audit_hook=False, namespaces=False)
        verdict = verifiers[user](_run_with_abi, 5, FSETOWN.replace("@PID@", str(victim.pid)),
                                  "assert add(2, 2) == 4\n", cfg)
        time.sleep(0.2)
        assert victim.poll() is None, "the sandbox killed a process outside the run"
        assert verdict.reason.startswith("tests_failed")
    finally:
        victim.kill()
        victim.wait()


def _run_with_abi(abi: int, solution: str, tests: str, cfg: SandboxConfig):
    """run_tests as on a kernel whose Landlock ABI is `abi` (the filter and rules follow it)."""
    saved = execution.landlock_abi
    execution.landlock_abi = lambda: abi
    try:
        return run_tests(solution, tests, cfg)
    finally:
        execution.landlock_abi = saved


TRAPS = """
import os
os.makedirs("locked/inner", exist_ok=True)
os.symlink("@TARGET@", "locked/inner/link")
os.symlink("@TARGET@", "link-at-top")
os.chmod("locked/inner", 0o500)
os.makedirs("sealed/deep", exist_ok=True)
open("sealed/deep/f", "w").write("x")
os.chmod("sealed/deep", 0)
os.chmod("sealed", 0)
"""


@pytest.mark.parametrize("user", list(USERS))
def test_cleanup_follows_no_link_and_removes_the_run_dir(user, verifiers, outside):
    """Without namespaces the run's files are on the real disk: a 0500 dir holding a link to a file outside
    and 000 dirs. The file outside keeps its mode, and nothing of the run stays on disk."""
    target = os.path.join(outside, "victim")
    with open(target, "w") as f:
        f.write("keep my mode")
    os.chmod(target, 0o644)
    if ROOT:
        os.chown(target, NOBODY, NOBODY)
    tmp_root = tempfile.mkdtemp(prefix="verdict-runs-", dir="/tmp")
    os.chmod(tmp_root, 0o777)
    try:
        cfg = dataclasses.replace(CFG, audit_hook=False, namespaces=False, tmp_root=tmp_root)
        verdict = verifiers[user](run_tests, TRAPS.replace("@TARGET@", target) + RIGHT, "assert add(1, 1) == 2\n", cfg)
        assert verdict.ok, verdict.reason
        assert os.stat(target).st_mode & 0o7777 == 0o644
        assert os.listdir(tmp_root) == []
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


def test_stale_run_dirs_of_killed_jobs_are_swept(tmp_path):
    """A run dir whose verifier is gone (kill -9) is removed by the next verifier; a live one is kept."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{rundir.PREFIX}{dead.pid}.1-abc"
    (stale / "x" / "locked").mkdir(parents=True)
    (stale / "x" / "link").symlink_to("/etc/passwd")
    (stale / "x" / "locked").chmod(0)
    live, _ = rundir.make(str(tmp_path), None)
    other = tmp_path / "sandbox-not-ours"
    other.mkdir()
    assert rundir.sweep_stale(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and os.path.isdir(live) and other.is_dir()
    assert os.stat("/etc/passwd").st_mode & 0o777 == 0o644


HOG = """
import os, time
def add(a, b):
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            block = bytearray(100 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(5)
            os._exit(0)
        kids.append(pid)
    time.sleep(1.5)
    return a + b
"""


@pytest.mark.skipif(not ROOT, reason="creating cgroups needs root or a delegated subtree")
def test_memory_limit_holds_across_the_processes_of_a_run():
    """6 processes x 100 MiB in a run limited to 256 MiB: the rlimit (per process) would let all of them
    live; the run's cgroup ends it (a correct answer computed that way is still rejected)."""
    cfg = dataclasses.replace(CFG, audit_hook=False, wall_seconds=15)
    verdict = run_tests(HOG, "assert add(2, 2) == 4\n", cfg)
    assert any(x.startswith("cgroup") for x in verdict.layers)
    assert not verdict.ok and verdict.reason.startswith("memory_limit"), verdict.reason


@pytest.mark.parametrize("user", list(USERS))
def test_eight_concurrent_verifications_of_correct_solutions_pass(user, verifiers):
    # 12 threads each: 8 runs together hold ~100 tasks of uid 65534, over any one run's max_processes (16);
    # 17a5377's per-uid RLIMIT_NPROC rejected all 8 `can't start new thread` (curate with 4 threads: 4 of 8)
    threads = "import threading, time\ndef add(a, b):\n    out = []\n" \
              "    ts = [threading.Thread(target=lambda: (time.sleep(0.3), out.append(1))) for _ in range(12)]\n" \
              "    [t.start() for t in ts]\n    [t.join() for t in ts]\n    return a + b + len(out) - 12\n"
    call = verifiers[user]
    verdicts = call(_concurrently, threads, "assert add(2, 2) == 4\nassert add(-1, 1) == 0\n", 8)
    assert [v.reason for v in verdicts] == [None] * 8


@pytest.mark.skipif(not ROOT, reason="needs a second uid to stand for a busy non-root worker")
def test_a_busy_non_root_verifier_does_not_starve_its_runs(verifiers):
    """Non-root, no namespaces, no cgroup: RLIMIT_NPROC counts the verifier's own threads too (17a5377 rejected
    a correct threaded solution `can't start new thread` under a busy worker). The run's budget now comes on
    top of the tasks the uid already runs."""
    cfg = dataclasses.replace(CFG, namespaces=False, cgroup=False, max_processes=8)
    solution = "import threading\ndef add(a, b):\n    out = []\n    ts = [threading.Thread(target=out.append, args=(1,)) for _ in range(4)]\n" \
               "    [t.start() for t in ts]\n    [t.join() for t in ts]\n    return a + b + len(out) - 4\n"
    verdict = verifiers["nobody"](_with_busy_threads, 24, solution, "assert add(2, 2) == 4\n", cfg)
    assert verdict.ok, verdict.reason


def _with_busy_threads(n: int, solution: str, tests: str, cfg: SandboxConfig):
    import threading
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        return run_tests(solution, tests, cfg)
    finally:
        stop.set()
        for t in threads:
            t.join()


def _concurrently(solution: str, tests: str, n: int):
    cfg = dataclasses.replace(CFG, memory_bytes=SandboxConfig().memory_bytes)   # 12 thread stacks need the default
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: run_tests(solution, tests, cfg), range(n)))


@pytest.mark.parametrize("module", ["asyncio", "subprocess", "ctypes"])
def test_correct_solutions_importing_the_stdlib_are_kept(module):
    """The default audit hook (on) no longer rejects imports: 17a5377 rejected these sandbox_violation."""
    solution = f"import {module}\n" + RIGHT
    if module == "asyncio":
        solution += "def add_async(a, b):\n    async def go():\n        return a + b\n    return asyncio.run(go())\n"
    tests = "assert add(2, 2) == 4\n" + ("assert add_async(1, 2) == 3\n" if module == "asyncio" else "")
    verdict = run_tests(solution, tests, CFG)
    assert verdict.ok, verdict.reason


def test_no_run_dir_is_left_behind_by_the_suite():
    leftovers = [p for p in glob.glob(os.path.join(tempfile.gettempdir(), f"{rundir.PREFIX}{os.getpid()}.*"))]
    assert leftovers == []


@pytest.mark.skipif(not ROOT, reason="creating cgroups needs root or a delegated subtree")
def test_cgroups_of_killed_jobs_are_swept():
    """A run cgroup named for a dead verifier (kill -9 of curate) is removed by the next verifier; ours stays."""
    from sandbox import cgroup
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = os.path.join(cgroup.ROOT, "pids", cgroup._own_path("pids").lstrip("/"), f"{cgroup.PREFIX}{dead.pid}.1-x")
    live = os.path.join(cgroup.ROOT, "pids", cgroup._own_path("pids").lstrip("/"),
                        f"{cgroup.PREFIX}{rundir.owner_tag()}-live")
    os.mkdir(stale)
    os.mkdir(live)
    try:
        cgroup.sweep_stale.cache_clear()
        assert stale in cgroup.sweep_stale() and not os.path.exists(stale) and os.path.isdir(live)
    finally:
        for d in (stale, live):
            if os.path.isdir(d):
                os.rmdir(d)


def test_the_test_process_imports_nothing_the_solution_wrote():
    """The solution names a module it wrote into the run dir: the test process imports modules the solution
    holds by name (math, numpy), but only from the stdlib and granted dirs, never from the run dir."""
    solution = ("import types\nopen('evilmod.py', 'w').write(\"import os\\nos.write(3, b'PASS x\\\\n')\\n"
                "print('ESCAPED: the test process ran evilmod')\\n\")\nevilmod = types.ModuleType('evilmod')\n" + WRONG_ADD)
    verdict = run_tests(solution, "assert add(2, 2) == 4\n", CFG)
    assert verdict.reason == "tests_failed: AssertionError" and "ESCAPED" not in verdict.stdout_tail
