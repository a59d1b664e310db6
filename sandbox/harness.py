"""The test process: runs inside the sandbox after every kernel layer is in place, and alone decides the verdict.

Standard library only (shipped to the sandbox interpreter). Tests mode (`_run_tests`): start the solution
process (proxy.py, solution.py), run the record's tests against proxies of the solution's names, then
`check(<entry point>)`, the unittest TestCases (real loader) and pytest-style tests; PASS only when at least
one assertion ran (counted by the instrumentation of collect.py), a test called the solution, and every
collected test passed. Only then does it write `PASS <nonce>` on the report pipe and leave with os._exit,
so atexit handlers, lingering threads and exit codes never decide. Script mode (`_run_script`) runs one
program to its end in this process (the layer probe, `run_python`).

Residual risk (SECURITY.md): the tests run here, next to the report pipe and the nonce: the record's own
tests are trusted to be tests. The solution is not: it runs in the other process and only plain values
come back. The audit hook below names violations; it is diagnostics, not the boundary.
"""
import os
import sys

SYNTAX_EXIT, VIOLATION_EXIT = 81, 86
VIOLATION_MARK = "__SANDBOX_VIOLATION__"

_DENY = frozenset((
    "os.kill", "os.killpg", "signal.pthread_kill", "os.fork", "os.forkpty", "os.system", "subprocess.Popen",
    "pty.spawn", "os.setuid", "os.setgid", "os.chroot", "socket.connect", "socket.bind", "socket.sendto",
    "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "socket.getnameinfo", "socket.sethostname", "socket.gethostname", "socket.listen", "socket.__new__",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.remote_exec"))
_DENY_PREFIX = ("os.exec", "os.spawn", "os.posix_spawn", "ctypes.", "_ctypes.")
_DENY_IMPORTS = frozenset(("_posixsubprocess", "_ctypes", "ctypes", "_posixshmem"))
_PATH_EVENTS = frozenset(("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                          "os.symlink", "os.link", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile",
                          "shutil.move", "os.mkfifo", "os.mknod"))


# In the solution process the hook only names what the kernel stops anyway (it cannot reach the report):
# a correct solution may import asyncio (socketpair), subprocess or ctypes without being rejected.
_SOLUTION_DENY = frozenset(e for e in _DENY if not e.startswith(("gc.", "sys.", "socket.__new__")))


def install_audit_hook(work_dir: str, solution: bool = False) -> None:
    """Diagnostics: end the run with a named violation on process creation, signals, network use and writes
    outside `work_dir` (relative paths resolved against the current dir); in the test process also on
    ctypes and heap walking (the routes to its report pipe)."""
    realpath, join, fsdecode, getcwd, write, _exit = (os.path.realpath, os.path.join, os.fsdecode, os.getcwd,
                                                       os.write, os._exit)
    prefix = work_dir.rstrip(os.sep) + os.sep
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    deny = _SOLUTION_DENY if solution else _DENY
    deny_prefix = ("os.exec", "os.spawn", "os.posix_spawn") if solution else _DENY_PREFIX
    deny_imports = frozenset() if solution else _DENY_IMPORTS

    def refuse(what):
        write(2, ("\n%s %s\n" % (VIOLATION_MARK, what)).encode("utf-8", "replace"))
        _exit(VIOLATION_EXIT)

    def inside(path):
        if isinstance(path, int):
            return True   # an fd it already holds
        try:
            resolved = realpath(join(getcwd(), fsdecode(path)))
        except Exception:
            return False
        return resolved == work_dir or resolved.startswith(prefix)

    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                      (isinstance(flags, int) and flags & writing_flags)
            if writing and not inside(path):
                refuse("open for writing outside the work dir: %r" % (path,))
        elif event in deny or event.startswith(deny_prefix):
            refuse(event)
        elif event == "socket.__new__" and len(args) > 1 and args[1] != 1:   # AF_UNIX pairs: asyncio's loop
            refuse(event)
        elif event == "import" and args and args[0] in deny_imports:
            refuse("import " + str(args[0]))
        elif event in _PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    refuse("%s outside the work dir: %r" % (event, arg))

    sys.addaudithook(hook)


def _describe(exc) -> str:
    try:
        message = str(exc)
        text = "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__
    except BaseException:
        text = "<exception>"
    return " ".join(text.split())[:300]


def print_traceback(exc, sources) -> None:
    """The failure's traceback on stderr, with source lines of our units (imported only on failure)."""
    try:
        import linecache
        import traceback
        for name, source in sources.items():
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    except BaseException:
        pass


def _compile(units):
    """Code objects of (name, source-or-marshalled-code) units, or ("SYNTAX", detail)."""
    import marshal
    codes = []
    for name, unit in units:
        if isinstance(unit, bytes):
            codes.append(marshal.loads(unit))
            continue
        try:
            codes.append(compile(unit, name, "exec", dont_inherit=True))
        except (SyntaxError, ValueError) as err:
            return None, "%s %s line %s: %s" % (name, type(err).__name__, getattr(err, "lineno", "?"),
                                                " ".join(str(getattr(err, "msg", err)).split())[:200])
    return codes, None


class _Tally:
    """What the tests did: assertions reached (counted by the instrumented tests), tests collected, and
    unittest outcomes that are not a pass (skips, expected failures, unexpected successes)."""

    def __init__(self):
        self.asserts, self.collected, self.not_passed = 0, [], []

    def count(self):
        self.asserts += 1


def _run_unittest(unittest, namespace, tally) -> None:
    cases = [v for v in list(namespace.values()) if isinstance(v, type) and issubclass(v, unittest.TestCase)
             and v.__module__ == "__main__"]
    if not cases:
        return
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in cases)
    result = unittest.TextTestRunner(sys.stderr, verbosity=0).run(suite)
    tally.collected.append("unittest: %d" % result.testsRun)
    for label, items in (("skipped", result.skipped), ("expected failure", result.expectedFailures),
                         ("unexpected success", [(t, "") for t in result.unexpectedSuccesses])):
        tally.not_passed += ["%s %s" % (label, test.id().rsplit(".", 1)[-1]) for test, _ in items]
    if not result.wasSuccessful() or result.failures or result.errors:
        failed = (result.failures + result.errors)[0]
        raise AssertionError("unittest: %d run, %d failures, %d errors (first: %s: %s)" % (
            result.testsRun, len(result.failures), len(result.errors), failed[0].id().rsplit(".", 1)[-1],
            failed[1].strip().splitlines()[-1][:200]))


def _run_pytest_style(namespace, unittest, tally) -> None:
    """What pytest would collect from the tests module: `test*` functions and `Test*` classes (not TestCases)."""
    function = type(_run_pytest_style)
    for name, value in list(namespace.items()):
        if name.startswith("test") and type(value) is function and value.__code__.co_filename == "tests.py":
            required = value.__code__.co_argcount - len(value.__defaults__ or ())
            if required:
                raise _Reject("unsupported_tests: %s() takes %d arguments (pytest fixtures are not supported)"
                              % (name, required))
            tally.collected.append(name)
            value()
        elif (name.startswith("Test") and isinstance(value, type) and value.__module__ == "__main__"
              and "__init__" not in value.__dict__   # pytest does not collect a class with its own __init__
              and not (unittest is not None and issubclass(value, unittest.TestCase))):
            instance = value()
            for attr in sorted(dir(value)):
                if attr.startswith("test") and callable(getattr(instance, attr)):
                    tally.collected.append("%s.%s" % (name, attr))
                    getattr(instance, attr)()


class _Reject(Exception):
    def __init__(self, reason):
        Exception.__init__(self, reason)
        self.reason = reason


def run(spec: dict, report_fd: int, nonce: str) -> None:
    """Run the spec, report on `report_fd`, then os._exit. Never returns. Script mode runs one program to
    its end; tests mode starts the solution process and judges by the tests that ran (`_run_tests`)."""
    write, _exit = os.write, os._exit

    def report(kind, detail=""):
        try:
            write(report_fd, ("%s %s %s\n" % (kind, nonce, detail)).encode("utf-8", "replace"))
        except OSError:
            pass

    outcome = _run_script(spec) if spec.get("mode") == "script" else _run_tests(spec)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    report(*outcome)
    _exit(0 if outcome[0] == "PASS" else 1)


def _run_script(spec):
    codes, error = _compile([("solution.py", spec.get("solution") or "")])
    if error:
        return ("SYNTAX", error)
    module = type(sys)("solution")
    module.__file__ = "solution.py"
    sys.modules["solution"] = module
    sys.argv = ["solution.py"]
    sys.path.extend(spec.get("paths") or ())
    if spec.get("audit"):
        if spec.get("paths"):
            try:
                import ctypes  # noqa: F401
            except ImportError:
                pass
        install_audit_hook(os.path.realpath(os.getcwd()))
    source = spec.get("solution") or ""
    del spec
    try:
        exec(codes[0], module.__dict__)
    except SystemExit as exc:
        return ("EXIT", "SystemExit(%s) during the tests" % (" ".join(repr(exc.code).split())[:100],))
    except BaseException as exc:
        print_traceback(exc, {"solution.py": source})
        return ("FAIL", _describe(exc))
    return ("PASS", "")


def _run_tests(spec):
    """The test process: the solution runs in its own process; the verdict is built here from what ran."""
    codes, error = _compile([("solution.py", spec.get("solution") or ""), ("setup.py", spec.get("setup") or ""),
                             ("tests.py", spec.get("tests") or "")])
    if error:
        return ("SYNTAX", error)
    bridge, proxy = sys.modules["_sandbox_bridge"], sys.modules["_sandbox_proxy"]
    link, first = proxy.start(bridge, {"modules": spec["server_modules"], "solution": spec.get("solution") or "",
                                       "setup": spec.get("setup") or "",
                                       "paths": list(spec.get("paths") or ()), "audit": bool(spec.get("audit")),
                                       "argv": list(spec.get("argv") or ())},
                              spec["server_boot"], spec.get("argv") or ())
    entry, audit, paths = spec.get("entry_point"), spec.get("audit"), spec.get("paths") or ()
    sources = {"setup.py": spec.get("setup") or "", "tests.py": spec.get("tests_source") or ""}
    del spec
    if first[0] == "x":
        return ("EXIT", "%s while the solution was imported" % (first[1],))
    if first[0] == "r":
        return ("FAIL", "%s: %s" % (first[1], first[3]) if first[3] else str(first[1]))
    if first[0] != "ready":
        return ("REJECT", "solution_died: the solution process ended before it was ready (%s)" % (first[-1],))
    tally = _Tally()
    unittest = None
    sys.path.extend(paths)
    try:
        namespace = link.namespace(first[1])
        solution = type(sys)("solution")
        solution.__dict__.update(namespace)
        sys.modules["solution"] = solution
        if "unittest" in sources["tests.py"]:
            import unittest
            unittest.main = lambda *args, **kwargs: None   # the harness runs the TestCases once, below
        namespace.update(__name__="__main__", __builtins__=builtins_module(), __verdict_assert__=tally.count)
        if audit:
            install_audit_hook(os.path.realpath(os.getcwd()))
        for code in codes[1:]:
            try:
                exec(code, namespace)
            except SystemExit as exc:   # a test script that ends with sys.exit(0) has finished, not failed
                if exc.code not in (None, 0):
                    raise AssertionError("the tests exited with status %r" % (exc.code,))
        if entry:
            check, candidate = namespace.get("check"), namespace.get(entry)
            if not callable(check):
                raise _Reject("bad_entry_point: the tests define no check(candidate)")
            if not (type(candidate) is proxy.Remote and candidate._callable):
                raise _Reject("bad_entry_point: the solution defines no function %r" % (entry,))
            tally.collected.append("check(%s)" % entry)
            check(candidate)
        if unittest is not None:
            _run_unittest(unittest, namespace, tally)
        _run_pytest_style(namespace, unittest, tally)
    except proxy.SolutionFailure as exc:
        return ("REJECT", exc.reason)
    except _Reject as exc:
        return ("REJECT", link.failure or exc.reason)
    except SystemExit as exc:
        if link.failure:
            return ("REJECT", link.failure)
        return ("EXIT", "SystemExit(%s) during the tests" % (" ".join(repr(exc.code).split())[:100],))
    except BaseException as exc:
        if link.failure:
            return ("REJECT", link.failure)
        print_traceback(exc, sources)
        return ("FAIL", _describe(exc))
    if link.failure:
        return ("REJECT", link.failure)
    if tally.not_passed:
        return ("REJECT", "tests_not_passed: %s" % ", ".join(tally.not_passed)[:300])
    if not tally.asserts:
        return ("REJECT", "no_test_ran: no assertion was executed (collected: %s)" % (
            ", ".join(tally.collected)[:200] or "module-level code only"))
    if not link.calls:
        return ("REJECT", "no_test_ran: no test called the solution")
    return ("PASS", "asserts=%d calls=%d" % (tally.asserts, link.calls))


def builtins_module():
    import builtins
    return builtins
