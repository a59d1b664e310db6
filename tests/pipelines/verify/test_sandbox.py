"""The sandbox against hostile code: every case ends, the parent survives, the reason is named."""
import dataclasses
import os
import subprocess
import time

import pytest

from pipelines.verify.sandbox import SandboxConfig, run_python

FAST = SandboxConfig(cpu_seconds=1, wall_seconds=3, memory_bytes=256 * 1024 * 1024, max_processes=8)
ROOT = os.geteuid() == 0
# The outer layers alone (no audit hook): what the kernel enforces.
BARE = dataclasses.replace(FAST, audit_hook=False)


def key(result):
    return result.reason.split(":")[0] if result.reason else None


def live_group_members(pgid, settle_seconds=2.0):
    """Non-zombie processes still in the group, after giving SIGKILLed ones time to die."""
    deadline = time.monotonic() + settle_seconds
    while True:
        alive = _scan_group(pgid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _scan_group(pgid):
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry))
    return alive


def test_passing_code():
    result = run_python("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')", FAST)
    assert result.ok and result.reason is None and result.returncode == 0
    assert result.stdout_tail.strip() == "ok"


def test_failing_assert():
    result = run_python("assert sorted([3, 1]) == [3, 1], 'order'", FAST)
    assert not result.ok and result.reason == "tests_failed: AssertionError: order"


def test_runtime_error_is_a_failed_test():
    result = run_python("undefined_name()", FAST)
    assert key(result) == "tests_failed" and "NameError" in result.reason


def test_syntax_error():
    result = run_python("def f(:\n    pass", FAST)
    assert key(result) == "syntax_error" and "line 1" in result.reason


def test_infinite_loop_hits_cpu_limit():
    # A generous wall limit: on a loaded machine 1 s of CPU can take several seconds of wall time.
    cfg = dataclasses.replace(FAST, wall_seconds=30)
    start = time.monotonic()
    result = run_python("while True:\n    pass", cfg)
    assert key(result) == "cpu_limit"
    assert time.monotonic() - start < cfg.wall_seconds


def test_sleeping_code_hits_wall_timeout():
    cfg = dataclasses.replace(FAST, wall_seconds=1)
    start = time.monotonic()
    result = run_python("import time\ntime.sleep(60)", cfg)
    assert result.reason == "timeout: wall 1s"
    assert time.monotonic() - start < 3
    assert live_group_members(result.pid) == []


def test_huge_allocation_hits_memory_limit():
    result = run_python("x = bytearray(10 * 1024 ** 3)", FAST)
    assert key(result) == "memory_limit"


def test_output_is_capped():
    cfg = dataclasses.replace(FAST, max_output_bytes=1000)
    result = run_python("print('y' * 100_000)", cfg)
    assert result.ok and len(result.stdout_tail) <= 1000


def test_output_beyond_file_size_limit_is_stopped():
    cfg = dataclasses.replace(FAST, file_size_bytes=64 * 1024)
    result = run_python("import sys\nwhile True:\n    sys.stdout.write('z' * 4096)", cfg)
    assert key(result) == "file_size_limit"


def test_fork_bomb_is_refused():
    result = run_python("import os\nwhile True:\n    os.fork()", FAST)
    assert result.reason == "sandbox_violation: os.fork"


@pytest.mark.skipif(not ROOT, reason="RLIMIT_NPROC only binds after dropping root; as non-root it binds directly")
def test_fork_bomb_without_hook_ends_under_nproc():
    cfg = dataclasses.replace(BARE, max_processes=4)
    start = time.monotonic()
    result = run_python("import os\nwhile True:\n    os.fork()", cfg)
    assert not result.ok and time.monotonic() - start < cfg.wall_seconds + 2
    assert "BlockingIOError" in result.reason or key(result) in ("timeout", "cpu_limit")
    assert live_group_members(result.pid) == []
    assert subprocess.run(["true"]).returncode == 0   # the machine can still start processes


@pytest.mark.parametrize("path", ["/etc/sandbox-test", "/sandbox-test"])
def test_write_outside_workdir_is_denied(path):
    result = run_python(f"open({path!r}, 'w').write('x')", FAST)
    assert key(result) == "sandbox_violation" and path in result.reason
    assert not os.path.exists(path)


def test_write_inside_workdir_is_allowed_and_removed():
    result = run_python("import os\nopen('scratch.txt', 'w').write('hi')\nprint(os.getcwd())", FAST)
    assert result.ok
    assert not os.path.exists(result.stdout_tail.strip())   # the work dir is deleted afterwards


@pytest.mark.skipif(not ROOT, reason="uid drop needs root")
def test_write_to_etc_fails_without_hook_too():
    result = run_python("open('/etc/sandbox-test', 'w')", BARE)
    assert key(result) == "tests_failed" and "PermissionError" in result.reason
    assert not os.path.exists("/etc/sandbox-test")


def test_socket_connect_is_denied():
    result = run_python("import socket\nsocket.socket().connect(('127.0.0.1', 22))", FAST)
    assert result.reason == "sandbox_violation: socket.connect"


@pytest.mark.skipif(not ROOT, reason="network namespace needs root")
def test_no_network_without_hook():
    result = run_python("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", BARE)
    assert key(result) == "tests_failed" and "Error" in result.reason   # unreachable or refused, never connected
    assert "netns" in result.isolation


def test_environment_is_empty(monkeypatch):
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "hunter2-do-not-leak")
    code = "import os\nprint(sorted(os.environ.items()))\n"
    if ROOT:   # and the parent's environment is not readable through /proc either
        code += ("try:\n    print(open('/proc/%d/environ' % os.getppid()).read())\n"
                 "except PermissionError:\n    print('denied')\n")
    result = run_python(code, BARE)
    assert result.ok, result.reason
    assert "hunter2" not in result.stdout_tail and "SANDBOX_TEST_SECRET" not in result.stdout_tail
    if ROOT:
        assert result.stdout_tail.strip().endswith("denied")


def test_kill_parent_is_denied_and_parent_survives():
    result = run_python("import os\nos.kill(os.getppid(), 9)", FAST)
    assert result.reason == "sandbox_violation: os.kill"


@pytest.mark.skipif(not ROOT, reason="uid drop needs root")
def test_kill_parent_fails_without_hook():
    result = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", BARE)
    assert key(result) == "tests_failed" and "PermissionError" in result.reason
    assert "uid 65534" in result.isolation


def test_subprocess_is_denied():
    result = run_python("import subprocess\nsubprocess.run(['id'])", FAST)
    assert key(result) == "sandbox_violation"


def test_stdlib_imports_work():
    result = run_python("import math, json, re, collections, itertools, functools, heapq, typing\nprint(math.pi)", FAST)
    assert result.ok and result.stdout_tail.startswith("3.14")
