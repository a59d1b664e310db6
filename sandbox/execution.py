"""Run untrusted Python (a solution and its tests) where the kernel, not Python, enforces the limits.

`run_tests(solution, tests, cfg)` starts `python -I -S -B -c BOOT` (the launcher, launcher.py) and
writes it, through a pipe only we hold, the launcher's code, the config and the program; it returns
a `Verdict` once every process of the run is gone and its directory removed. Layers, each recorded
in `Verdict.layers` (SECURITY.md says what each one stops):

- seccomp-bpf (seccomp.py): no sockets but socketpair, no ptrace, namespaces, mounts, bpf, keyrings,
  io_uring, SysV/POSIX IPC, inotify, memfd; no signals at all unless Landlock scopes them;
- Landlock (landlock.py): read the interpreter, its standard library (not its site-packages), the
  shared libraries it maps and the package dirs we grant; write only the run's directory; no TCP;
  signals and abstract Unix sockets only within the run;
- namespaces (PID, net, mount, IPC, UTS; a user namespace when not root): the run's processes end
  with its PID 1, the run dir is a private capped tmpfs, no network interface;
- rlimits (CPU, address space, file size, processes, open files, no core), uid 65534 as root,
  no_new_privs, an empty environment, a fresh 0700 run directory never reused;
- a subreaper supervisor that kills and reaps every descendant before the verdict;
- an audit hook in the harness: diagnostics that name a violation, never the boundary.
A pass needs `PASS <nonce>` from the harness on its report pipe (harness.py); exit codes never count.
"""
from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import importlib.util
import logging
import marshal
import os
import secrets
import signal
import subprocess
import time

from sandbox import bridge, cgroup, collect, harness, landlock, launcher, proxy, rundir, solution as solution_side
from sandbox import syscalls
from sandbox.interpreter import SandboxUnavailable, interpreter

__all__ = ["SandboxConfig", "SandboxMode", "SandboxUnavailable", "Verdict", "available_layers", "interpreter", "log_best_effort",
           "require_layers", "run_python", "run_tests"]

MiB = 1024 * 1024
MARK = "code-mixtures-sandbox"   # argv of every sandbox process (tests look for survivors by it)
REQUIRED = ("seccomp", "landlock")
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGSYS}
# The launcher's bootstrap: the payload is marshal data (no json import: startup time is throughput);
# modules come as code objects when the interpreter's bytecode matches ours, else as source.
BOOT = r'''
import marshal, sys
def _boot():
    payload = marshal.loads(sys.stdin.buffer.read())
    mods = {}
    for name in ("syscalls", "landlock", "bridge", "proxy", "harness", "launcher"):
        code = payload["modules"].pop(name)
        mod = type(sys)("_sandbox_" + name)
        exec(compile(code, "<sandbox %s>" % name, "exec") if isinstance(code, str) else marshal.loads(code),
             mod.__dict__)
        sys.modules[mod.__name__] = mods[name] = mod
    return mods["launcher"].main(payload, mods["landlock"], mods["harness"])
import os; os._exit(_boot())   # no interpreter teardown: the result is already written
'''


class SandboxMode(enum.Enum):
    """STRICT: no run without seccomp and Landlock; BEST_EFFORT: run with what this kernel offers (and say so)."""
    STRICT = "strict"
    BEST_EFFORT = "best-effort"


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    cpu_seconds: int = 2                 # RLIMIT_CPU soft limit (SIGXCPU), hard = +1 s
    wall_seconds: float = 5.0            # from the runner's start; then every process of the run is killed
    memory_bytes: int = 512 * MiB        # RLIMIT_AS
    file_size_bytes: int = 1 * MiB       # RLIMIT_FSIZE: any one file written
    disk_bytes: int = 32 * MiB           # size of the run dir's tmpfs (with a mount namespace)
    max_files: int = 4096                # inodes of that tmpfs
    output_limit_bytes: int = 1 * MiB    # stdout + stderr together; more ends the run (output_limit)
    max_output_bytes: int = 64 * 1024    # tail of stdout/stderr kept in the verdict
    max_processes: int = 32              # RLIMIT_NPROC (counted per uid, or per user namespace)
    max_open_files: int = 64             # RLIMIT_NOFILE
    python: str | None = None            # interpreter or virtualenv whose site-packages the run may read;
                                         # None: a stdlib-only interpreter (ours, else /usr/bin/python3)
    drop_privileges: bool = True         # as root: run as sandbox_uid/gid
    sandbox_uid: int = 65534             # nobody
    namespaces: bool = True              # PID/net/mount/IPC/UTS (+ user when not root) where the kernel allows
    audit_hook: bool = True              # the diagnostics hook (clear reasons); off to test the kernel layers
    mode: SandboxMode = SandboxMode.STRICT
    tmp_root: str | None = None          # parent of the run dirs (default: the system temp dir)
    cgroup: bool = True                  # a per-run cgroup (memory, pids, CPU) where this process may make one

    def __post_init__(self) -> None:
        if not isinstance(self.mode, SandboxMode):   # a typo must not silently run best-effort
            raise TypeError(f"SandboxConfig.mode must be a SandboxMode, not {self.mode!r}")


@dataclasses.dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None                   # None when ok; "<key>: <detail>" otherwise
    returncode: int | None               # runner exit code, or -signal
    stdout_tail: str
    stderr_tail: str
    wall_seconds: float
    layers: tuple[str, ...] = ()         # what was in force, e.g. ("pidns", "seccomp", "landlock abi 7", ...)
    run_id: str = ""                     # in the argv of every process of the run
    asserts_run: int = 0                 # assertions the tests executed (a pass needs >= 1)
    solution_calls: int = 0              # calls from the tests into the solution process (a pass needs >= 1)


@functools.lru_cache(maxsize=1)
def landlock_abi() -> int:
    return landlock.abi()


@functools.lru_cache(maxsize=4)
def _modules(magic: str) -> dict[str, str | bytes]:
    """The launcher's modules: marshalled code when `magic` (the interpreter's bytecode) is ours."""
    out: dict[str, str | bytes] = {}
    for module in (syscalls, landlock, bridge, proxy, harness, launcher, solution_side):
        name = module.__name__.rsplit(".", 1)[1]
        with open(module.__file__, encoding="utf-8") as f:
            source = f.read()
        same = magic == importlib.util.MAGIC_NUMBER.hex()
        out[name] = marshal.dumps(compile(source, f"<sandbox {name}>", "exec")) if same else source
    return out


def _seccomp_hex(allow_signals: bool) -> tuple[str | None, str | None]:
    from sandbox import seccomp
    try:
        return seccomp.filter_bpf(allow_signals).hex(), None
    except seccomp.SeccompUnavailable as exc:
        return None, str(exc)


def available_layers(cfg: SandboxConfig) -> tuple[tuple[str, ...], list[str]]:
    """(layers this machine offers for `cfg`, problems) without running anything untrusted."""
    problems, layers = [], []
    version = landlock_abi()
    if version:
        layers.append(f"landlock abi {version}")
    else:
        problems.append("landlock: the kernel has no Landlock (needs Linux >= 5.13 with lsm=landlock)")
    bpf, error = _seccomp_hex(version >= 6)
    if bpf:
        layers.append("seccomp")
    else:
        problems.append(f"seccomp: {error}")
    return tuple(layers), problems


def require_layers(cfg: SandboxConfig) -> tuple[str, ...]:
    """Layers of a real probe run; raises SandboxUnavailable naming what strict mode misses."""
    verdict = run_python("assert 1 + 1 == 2\n", cfg)
    if not verdict.ok:
        raise SandboxUnavailable(f"the sandbox cannot run a trivial program: {verdict.reason}")
    return verdict.layers


def _tests_spec(tests: str, entry_point: object, magic: str) -> tuple[dict | None, str | None]:
    """The tests' part of the harness spec (instrumented, compiled here when the bytecode matches), or a reason."""
    plan, reason = collect.plan(tests, entry_point)
    if reason:
        return None, reason
    if plan is None:   # a syntax error: the harness reports it with its line
        return {"tests": tests, "tests_source": tests, "entry_point": None}, None
    same = magic == importlib.util.MAGIC_NUMBER.hex()
    if same:
        with collect.AST_LOCK:
            code = marshal.dumps(compile(plan.tree, "tests.py", "exec", dont_inherit=True))
    else:
        code = ast.unparse(plan.tree)
    return {"tests": code, "tests_source": tests, "entry_point": plan.call_check}, None


def run_tests(solution: str, tests: str, cfg: SandboxConfig = SandboxConfig(), *, entry_point: str | None = None,
              setup: str = "") -> Verdict:
    """The verdict on `solution` by `tests` (any schema collect.py reads; `check(<entry_point>)` for
    HumanEval's), run in two sandboxed processes: ok only when at least one assertion ran, the tests called
    the solution, and every collected test passed (harness.py)."""
    return _run(solution, tests, cfg, entry_point=entry_point, setup=setup, script=False)


def _run(solution: str, tests: str, cfg: SandboxConfig, *, entry_point: object, setup: str,
         script: bool) -> Verdict:
    run_id = secrets.token_hex(8)
    root = os.geteuid() == 0
    uid = cfg.sandbox_uid if (root and cfg.drop_privileges) else None
    start = time.monotonic()
    def fail(reason: str) -> Verdict:
        return Verdict(False, reason, None, "", "", round(time.monotonic() - start, 3), (), run_id)
    try:
        interp = interpreter(cfg.python, uid)
    except SandboxUnavailable as exc:
        return fail(f"sandbox_unavailable: {exc}")
    version = landlock_abi()
    bpf, _ = _seccomp_hex(version >= 6)
    required = list(REQUIRED) if cfg.mode is SandboxMode.STRICT else []
    missing = [name for name, have in (("seccomp", bpf), ("landlock", version)) if not have and name in required]
    if missing:
        return fail(f"sandbox_unavailable: missing layer {', '.join(missing)} (run with --sandbox best-effort "
                    "to verify without it)")
    spec = {"mode": "script", "solution": solution, "paths": list(interp.packages), "audit": cfg.audit_hook}
    if not script:
        tests_spec, reason = _tests_spec(tests, entry_point, interp.magic)
        if reason:
            return fail(reason)
        modules = _modules(interp.magic)
        spec.update(tests_spec, mode="tests", setup=setup, argv=[MARK, run_id], server_boot=solution_side.SERVER_BOOT,
                    server_modules={k: modules[k] for k in ("bridge", "solution", "harness")})
    rundir.sweep_once(cfg.tmp_root)
    outer, work = rundir.make(cfg.tmp_root, uid)
    group = cgroup.create(run_id, cfg.memory_bytes, cfg.max_processes) if cfg.cgroup else None
    nonce = secrets.token_hex(16)
    payload = {
        "modules": dict(_modules(interp.magic)), "nonce": nonce, "work_dir": work, "uid": uid,
        "namespaces": cfg.namespaces,
        "tmpfs": {"bytes": cfg.disk_bytes, "inodes": cfg.max_files}, "required": required, "seccomp": bpf,
        "landlock": {"abi": version, "rules": list(interp.rules) + [(work, landlock.WRITE_TREE)]} if version else None,
        "limits": {"cpu": cfg.cpu_seconds, "memory": cfg.memory_bytes, "file_size": cfg.file_size_bytes,
                   # with a pids cgroup the run's own count decides; RLIMIT_NPROC (per uid, shared by
                   # concurrent runs as 65534) is then only a generous backstop
                   "processes": cfg.max_processes if group is None else max(cfg.max_processes, 4096),
                   "open_files": cfg.max_open_files, "core": 0},
        "cgroup": {"dirs": list(group.dirs), "layer": group.layer()} if group else None,
        "wall_seconds": cfg.wall_seconds, "max_output_bytes": cfg.output_limit_bytes,
        "tail_bytes": cfg.max_output_bytes,
        "spec": spec,
    }
    try:
        data = marshal.dumps(payload)
        proc = subprocess.Popen([interp.executable, "-I", "-S", "-B", "-c", BOOT, MARK, run_id], cwd=work,
                                env={"TMPDIR": work}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, close_fds=True, start_new_session=True)
        try:
            out, err = proc.communicate(data, timeout=cfg.wall_seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return fail("sandbox_error: the supervisor did not finish")
        try:
            result = marshal.loads(out)   # written by the launcher alone (the runner never holds this fd)
        except (ValueError, EOFError, TypeError):
            detail = _last_line(err.decode("utf-8", "replace"))
            return fail(f"sandbox_error: supervisor exit {proc.returncode}: {detail}")
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return fail(f"sandbox_error: {exc!r}")
    finally:
        removed = rundir.remove(outer)
        oom = group.oom_killed() if group else False
        if group:
            group.remove()
    verdict = _verdict(result, nonce, cfg, run_id)
    if oom:   # a process of the run was OOM-killed: the run broke its limit, whatever the tests said
        verdict = dataclasses.replace(verdict, ok=False,
                                      reason=f"memory_limit: {cfg.memory_bytes} bytes (the run's cgroup)")
    if not removed:   # never silent: the run's files are still on disk
        logging.getLogger("sandbox").error("run dir %s could not be removed", outer)
    return verdict


def run_python(code: str, cfg: SandboxConfig = SandboxConfig()) -> Verdict:
    """A script that must run to its end (one process, no tests: ok when it ends without an exception)."""
    return _run(code, "", cfg, entry_point=None, setup="", script=True)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _failure_reason(detail: str, cfg: SandboxConfig) -> str:
    if detail.startswith("MemoryError"):
        return f"memory_limit: {cfg.memory_bytes} bytes"
    if "[Errno 27]" in detail:   # Python ignores SIGXFSZ: an over-limit write raises EFBIG
        return f"file_size_limit: {cfg.file_size_bytes} bytes"
    if "[Errno 28]" in detail:
        return f"disk_limit: {cfg.disk_bytes} bytes / {cfg.max_files} files"
    return f"tests_failed: {detail}"


def _rejection(detail: str, stderr: str, cfg: SandboxConfig) -> str:
    """The reason for a harness REJECT; the solution process's death is named by its cause where known."""
    if detail.startswith(("solution_died", "exit_called")) and harness.VIOLATION_MARK in stderr:
        return "sandbox_violation: " + stderr.rsplit(harness.VIOLATION_MARK, 1)[1].strip().splitlines()[0][:200]
    if detail.startswith("solution_died") and f"(signal {int(signal.SIGXCPU)})" in detail:
        return f"cpu_limit: {cfg.cpu_seconds}s (the solution process)"
    for sig in _CRASH_SIGNALS:
        if detail.startswith("solution_died") and f"(signal {int(sig)})" in detail:
            return f"crash: signal {int(sig)} ({sig.name}) in the solution process"
    return detail


def _verdict(result: dict, nonce: str, cfg: SandboxConfig, run_id: str) -> Verdict:
    try:
        setup = marshal.loads(result.get("setup") or marshal.dumps({}))
    except (ValueError, EOFError, TypeError):
        setup = {}
    if not isinstance(setup, dict):
        setup = {}
    layers = tuple(result.get("layers", [])) + tuple(setup.get("layers", [])) + (
        ("audit hook",) if cfg.audit_hook else ())
    status = result["status"]
    rc = -status["signal"] if "signal" in status else status["exit"]
    stdout, stderr = result.get("stdout", ""), result.get("stderr", "")
    made = lambda reason, asserts=0, calls=0: Verdict(  # noqa: E731
        reason is None, reason, rc, stdout, stderr, result.get("wall", 0.0), layers, run_id, asserts, calls)
    if setup.get("error") or not setup:
        return made(f"sandbox_error: {setup.get('error') or 'the runner did not start'}")
    if not result.get("swept", False):
        return made("sandbox_error: processes of the run could not all be ended")
    if result.get("killed") == "timeout":
        return made(f"timeout: wall {cfg.wall_seconds:g}s")
    if result.get("killed") == "output":
        return made(f"output_limit: {cfg.output_limit_bytes} bytes of stdout/stderr")
    lines = result.get("report", "").splitlines()
    valid = [line.split(" ", 2) for line in lines if line.split(" ", 2)[1:2] == [nonce]]
    if len(valid) != len(lines):
        return made("report_tampered: unexpected bytes on the harness's report pipe")
    if valid:
        kind, detail = valid[0][0], (valid[0][2] if len(valid[0]) > 2 else "")
        if kind == "PASS" and len(valid) == 1 and rc == 0:
            counts = dict(part.partition("=")[::2] for part in detail.split())
            return made(None, int(counts.get("asserts", 0)), int(counts.get("calls", 0)))
        if kind == "REJECT":
            return made(_rejection(detail, stderr, cfg))
        if kind == "FAIL":
            return made(_failure_reason(detail, cfg))
        if kind == "EXIT":
            return made(f"exit_called: {detail}")
        if kind == "SYNTAX":
            return made(f"syntax_error: {detail}")
    if rc == harness.VIOLATION_EXIT and harness.VIOLATION_MARK in stderr:
        return made("sandbox_violation: " + stderr.rsplit(harness.VIOLATION_MARK, 1)[1].strip().splitlines()[0][:200])
    if rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and result.get("cpu", 0) >= cfg.cpu_seconds):
        return made(f"cpu_limit: {cfg.cpu_seconds}s")
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = "?"
        return made(f"{'crash' if -rc in _CRASH_SIGNALS else 'killed'}: signal {-rc} ({name})")
    return made(f"no_report: exit code {rc} before the tests finished")


def log_best_effort(cfg: SandboxConfig, logger: logging.Logger) -> None:
    """The warning best-effort mode owes every run: which layers are missing here."""
    if cfg.mode is not SandboxMode.STRICT:
        layers, problems = available_layers(cfg)
        logger.warning("sandbox in best-effort mode: layers %s%s", ", ".join(layers) or "none",
                       f"; MISSING {'; '.join(problems)}" if problems else "")
