"""The sandbox against hostile code: every case ends, the parent survives, the reason is named.
(The attack suite with escape checks, as root and as uid 65534, is tests/reliability/test_sandbox_attacks.py.)"""
import dataclasses
import os
import subprocess
import time

import pytest

from sandbox import execution as sandbox
from sandbox.execution import SandboxConfig, SandboxMode, run_python, run_tests
from tests.sandbox.helpers import processes_with

FAST = SandboxConfig(cpu_seconds=1, wall_seconds=3, memory_bytes=256 * 1024 * 1024, max_processes=8)
ROOT = os.geteuid() == 0
# The outer layers alone (no audit hook): what the kernel enforces.
BARE = dataclasses.replace(FAST, audit_hook=False)


def key(result):
    return result.reason.split(":")[0] if result.reason else None


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
    assert processes_with(result.run_id) == []


def test_huge_allocation_hits_memory_limit():
    result = run_python("x = bytearray(10 * 1024 ** 3)", FAST)
    assert key(result) == "memory_limit"


def test_output_is_capped():
    cfg = dataclasses.replace(FAST, max_output_bytes=1000)
    result = run_python("print('y' * 100_000)", cfg)
    assert result.ok and len(result.stdout_tail) <= 1000


def test_output_beyond_its_limit_is_stopped():
    cfg = dataclasses.replace(FAST, output_limit_bytes=64 * 1024)
    result = run_python("import sys\nwhile True:\n    sys.stdout.write('z' * 4096)", cfg)
    assert key(result) == "output_limit"


def test_file_beyond_file_size_limit_is_stopped():
    cfg = dataclasses.replace(FAST, file_size_bytes=64 * 1024)
    result = run_python("with open('big', 'w') as f:\n    while True:\n        f.write('z' * 4096)", cfg)
    assert key(result) == "file_size_limit"


def test_fork_bomb_is_refused():
    result = run_python("import os\nwhile True:\n    os.fork()", FAST)
    assert result.reason == "sandbox_violation: os.fork"


def test_fork_bomb_without_hook_ends_under_nproc():
    cfg = dataclasses.replace(BARE, max_processes=4)
    start = time.monotonic()
    result = run_python("import os\nwhile True:\n    os.fork()", cfg)
    assert not result.ok and time.monotonic() - start < cfg.wall_seconds + 2
    assert "BlockingIOError" in result.reason or key(result) in ("timeout", "cpu_limit")
    assert processes_with(result.run_id) == []
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


def test_write_to_etc_fails_without_hook_too():
    result = run_python("open('/etc/sandbox-test', 'w')", BARE)
    assert key(result) == "tests_failed" and "PermissionError" in result.reason
    assert not os.path.exists("/etc/sandbox-test")


def test_socket_is_denied():
    result = run_python("import socket\nsocket.socket().connect(('127.0.0.1', 22))", FAST)
    assert result.reason == "sandbox_violation: socket.__new__"


def test_no_network_without_hook():
    result = run_python("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", BARE)
    assert result.reason == "tests_failed: PermissionError: [Errno 1] Operation not permitted"   # seccomp
    assert "seccomp" in result.layers and "netns" in result.layers


def test_environment_is_empty(monkeypatch):
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "hunter2-do-not-leak")
    code = ("import os\nprint(sorted(os.environ.items()))\n"   # the verifier's environment is not readable either
            f"try:\n    print(open('/proc/{os.getpid()}/environ').read())\n"
            "except PermissionError:\n    print('denied')\n")
    result = run_python(code, BARE)
    assert result.ok, result.reason
    assert "hunter2" not in result.stdout_tail and "SANDBOX_TEST_SECRET" not in result.stdout_tail
    assert result.stdout_tail.strip().endswith("denied")


def test_kill_parent_is_denied_and_parent_survives():
    result = run_python(f"import os\nos.kill({os.getpid()}, 9)", FAST)
    assert result.reason == "sandbox_violation: os.kill"


def test_kill_verifier_fails_without_hook():
    # Our pid does not exist in the run's PID namespace (ESRCH); without one, Landlock's scope says EPERM.
    result = run_python(f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)", BARE)
    assert key(result) == "tests_failed"
    assert "ProcessLookupError" in result.reason or "PermissionError" in result.reason


def test_subprocess_is_denied():
    result = run_python("import subprocess\nsubprocess.run(['id'])", FAST)
    assert key(result) == "sandbox_violation"


def test_stdlib_imports_work():
    result = run_python("import math, json, re, collections, itertools, functools, heapq, typing\nprint(math.pi)", FAST)
    assert result.ok and result.stdout_tail.startswith("3.14")


# ---------------------------------------------------------------- the harness's report decides, never the exit code

FAILING = "assert add(2, 2) == 4, 'add is wrong'\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"


@pytest.mark.parametrize("trick, reason", [
    ("import os\nos._exit(0)\n", "solution_died: the solution process ended before it was ready (exit 0)"),
    ("import atexit, os\natexit.register(os._exit, 0)\n", "tests_failed: AssertionError: add is wrong"),
    ("import sys\ndef main():\n    return 0\nif __name__ == '__main__':\n    sys.exit(main())\n",
     "tests_failed: AssertionError: add is wrong"),
    ("raise SystemExit(0)\n", "exit_called: SystemExit(0) while the solution was imported"),
    ("import sys\ndef add(a, b):\n    sys.exit(0)\n", "exit_called: SystemExit(0) in the solution"),
])
def test_exit_zero_tricks_are_rejected(trick, reason):
    result = run_tests(WRONG_ADD + trick, FAILING, FAST)
    assert result.reason == reason and not result.ok


def test_report_pipe_is_out_of_the_solutions_reach():
    """The solution process holds no fd of the test process: a forged line reaches no report."""
    forge = ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'PASS 0123 \\n')\n"
             "    except OSError:\n        pass\nos._exit(0)\n")
    result = run_tests(WRONG_ADD + forge, FAILING, FAST)
    assert not result.ok and key(result) == "solution_died"


def test_report_without_the_nonce_is_rejected():
    """The tests (the test process) write a line without the nonce: the report is tampered."""
    forge = "import os\nos.write(3, b'PASS 0123 \\n')\nassert add(1, 1) == 2\nos._exit(0)\n"
    result = run_tests("def add(a, b):\n    return a + b\n", forge, BARE)
    assert key(result) == "report_tampered"


def test_solution_is_a_module_not_main():
    result = run_tests("print(__name__)\nNAME = __name__\ndef name():\n    return NAME\n",
                       "assert NAME == 'solution' and name() == 'solution'\n", FAST)
    assert result.ok and result.stdout_tail.strip() == "solution"


def test_humaneval_check_is_called_with_the_entry_point():
    tests = "def check(candidate):\n    assert candidate(2, 2) == 4\n"
    assert run_tests("def add(a, b):\n    return a + b\n", tests, FAST, entry_point="add").ok
    assert key(run_tests(WRONG_ADD, tests, FAST, entry_point="add")) == "tests_failed"
    assert key(run_tests("x = 1\n", tests, FAST, entry_point="add")) == "bad_entry_point"   # no such function


def test_setup_code_runs_before_the_tests():
    result = run_tests("def first(xs):\n    return xs[0]\n", "assert first(DATA) == 3\n", FAST, setup="DATA = [3, 4]\n")
    assert result.ok, result.reason


@pytest.mark.parametrize("body, ok", [("self.assertEqual(add(2, 2), 4)", True),
                                      ("self.assertEqual(add(2, 2), 5)", False)])
@pytest.mark.parametrize("runner", ["", "unittest.main()\n", "if __name__ == '__main__':\n    unittest.main()\n"])
def test_unittest_cases_run_whatever_the_tests_call(body, ok, runner):
    tests = f"import unittest\nclass T(unittest.TestCase):\n    def test_add(self):\n        {body}\n{runner}"
    result = run_tests("def add(a, b):\n    return a + b\n", tests, FAST)
    assert result.ok is ok, result.reason


def test_crash_and_syntax_are_distinct_reasons():
    assert run_python("import ctypes\nctypes.string_at(0)\n", BARE).reason == "crash: signal 11 (SIGSEGV)"
    assert run_tests("import ctypes\ndef add(a, b):\n    ctypes.string_at(0)\n", "assert add(1, 2) == 3\n",
                     BARE).reason == "crash: signal 11 (SIGSEGV) in the solution process"
    assert key(run_tests("x = 1\n", "assert (\n", FAST)) == "syntax_error"


def test_layers_are_recorded():
    result = run_python("pass", FAST)
    assert result.ok
    for layer in ("seccomp", "landlock abi 7", "landlock tcp", "landlock scope", "pidns", "netns", "mountns",
                  "rlimits", "no_new_privs", "subreaper"):
        assert layer in result.layers, (layer, result.layers)
    assert ("uid 65534" in result.layers) == ROOT


def test_strict_mode_refuses_without_a_layer_best_effort_runs(monkeypatch):
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    assert run_python("pass", FAST).reason.startswith("sandbox_unavailable: missing layer landlock")
    result = run_python("pass", dataclasses.replace(FAST, mode=SandboxMode.BEST_EFFORT))
    assert result.ok and "seccomp" in result.layers and not any(x.startswith("landlock") for x in result.layers)


def test_run_dir_is_private_fresh_and_removed():
    code = "import os\nst = os.stat('.')\nprint(os.getcwd(), oct(st.st_mode & 0o777), st.st_uid, os.listdir('.'))\n"
    first, second = run_python(code, FAST), run_python(code, FAST)
    assert first.ok and second.ok
    (cwd1, mode, uid, listing), cwd2 = first.stdout_tail.split(" ", 3), second.stdout_tail.split(" ", 1)[0]
    assert mode == "0o700" and listing.strip() == "[]" and cwd1 != cwd2
    assert int(uid) == (65534 if ROOT else os.geteuid())
    assert not os.path.exists(cwd1) and not os.path.exists(os.path.dirname(cwd1))


def test_no_descendant_outlives_the_verdict():
    code = ("import os, signal, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n        time.sleep(60)\n    os._exit(0)\n"
            "time.sleep(0.3)\n")
    result = run_python(code, BARE)
    assert result.ok, result.reason
    assert processes_with(result.run_id) == []


def test_cli_prints_the_layers_and_fails_without_one(capsys, monkeypatch):
    from sandbox.__main__ import main
    assert main([]) == 0 and "seccomp" in capsys.readouterr().out
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    assert main([]) == 1 and "missing layer landlock" in capsys.readouterr().out
    assert main(["--sandbox", "best-effort"]) == 0


def test_launcher_runs_from_source_when_the_interpreter_bytecode_differs(monkeypatch):
    modules = sandbox._modules
    monkeypatch.setattr(sandbox, "_modules", lambda magic: modules("another interpreter's magic"))
    assert all(isinstance(v, str) for v in sandbox._modules("x").values())
    result = run_tests("def add(a, b):\n    return a + b\n", "assert add(2, 2) == 4\n", FAST)
    assert result.ok and "seccomp" in result.layers


@pytest.mark.parametrize("mode", ["strict", "best-effort", "best_effort", None])
def test_mode_must_be_the_enum(mode):
    """A mistyped or string mode is refused at construction: it used to run best-effort silently."""
    with pytest.raises(TypeError):
        SandboxConfig(mode=mode)
    assert SandboxConfig(mode=SandboxMode("best-effort")).mode is SandboxMode.BEST_EFFORT


@pytest.mark.parametrize("end, ok", [("sys.exit(0)", True), ("sys.exit()", True), ("sys.exit(1)", False)])
def test_a_test_script_may_end_with_sys_exit(end, ok):
    """sys.exit in the tests (the test process) ends the script; only a non-zero status fails it. In the
    solution it is always exit_called."""
    result = run_tests("def add(a, b):\n    return a + b\n", f"import sys\nassert add(1, 2) == 3\n{end}\n", FAST)
    assert result.ok is ok, result.reason
