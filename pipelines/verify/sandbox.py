"""Run untrusted Python (synthetic solutions and their tests) in a locked-down subprocess.

Layers, outermost first (each is enough on its own for the threat it names):
- a fresh interpreter (`-I -S -B`: no site-packages, no user env, no .pyc writes),
  an empty environment (nothing to leak: `os.environ` is `{}`, so reads need no
  hook), stdin from /dev/null, a throwaway working directory deleted afterwards;
- its own session/process group, killed as a whole on timeout or exit;
- rlimits: CPU seconds, address space, file size, processes, open files, no core;
- when running as root (RLIMIT_NPROC does not bind root): a new empty network
  namespace (unshare(CLONE_NEWNET)) and then uid/gid 65534 (nobody), so writes
  outside the work dir, signals to our processes and /proc/<parent>/environ fail;
- a prelude audit hook (PEP 578) that ends the child with a distinctive message on
  sockets, signals, process creation, ctypes and writes outside the work dir.
If the namespace cannot be created, the audit hook is the only network guard and
`SandboxResult.isolation` says so. Known limits: without the hook, world-writable
dirs (/tmp, /dev/shm) are writable by nobody (each file capped by RLIMIT_FSIZE);
children that die after their parent are reaped by PID 1, not by us, and their
zombies count towards RLIMIT_NPROC until it does; a child that calls setsid()
leaves the process group (process creation is refused by the hook and capped
by RLIMIT_NPROC, so this needs the hook off).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024
VIOLATION_EXIT, SYNTAX_EXIT = 86, 81
_VIOLATION, _SYNTAX = "__SANDBOX_VIOLATION__", "__SANDBOX_SYNTAX__"
_CLONE_NEWNET = 0x40000000
_FALLBACK_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/usr/bin/python")


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    cpu_seconds: int = 2                 # RLIMIT_CPU soft limit (SIGXCPU), hard = +1 s
    wall_seconds: float = 5.0            # then the whole process group is killed
    memory_bytes: int = 512 * MiB        # RLIMIT_AS
    file_size_bytes: int = 1 * MiB       # RLIMIT_FSIZE: files written, stdout and stderr included
    max_processes: int = 32              # RLIMIT_NPROC for the sandbox uid (shared by concurrent sandboxes)
    max_open_files: int = 64             # RLIMIT_NOFILE
    max_output_bytes: int = 64 * 1024    # tail of stdout/stderr kept in the result
    python: str | None = None            # interpreter; None: ours if the sandbox uid can run it, else /usr/bin/python3
    drop_privileges: bool = True         # as root: run as sandbox_uid/gid
    sandbox_uid: int = 65534             # nobody
    isolate_network: bool = True         # as root: empty network namespace
    audit_hook: bool = True              # the in-process guard (turn off only to test the outer layers)
    tmp_root: str | None = None          # parent of the throwaway work dirs (default: the system temp dir)


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    ok: bool
    reason: str | None        # None when ok; "<key>: <detail>" otherwise
    returncode: int | None
    stdout_tail: str
    stderr_tail: str
    wall_seconds: float
    isolation: tuple[str, ...] = ()   # the layers that applied, e.g. ("rlimits", "netns", "uid 65534", "audit hook")
    pid: int | None = None            # the child's pid = its process group id (for inspection and tests)


# Runs inside the child before the untrusted code: compile first (syntax errors are
# reported as such), then install the hook, then exec in a fresh __main__ namespace.
_PRELUDE = r'''
import sys
def _sandbox_setup(audit):
    import os
    cwd = os.path.realpath(os.getcwd())
    with open(os.path.join(cwd, "main.py"), "rb") as f:
        src = f.read()
    try:
        code = compile(src, "main.py", "exec")
    except (SyntaxError, ValueError) as e:
        os.write(2, ("\n__SANDBOX_SYNTAX__ %s line %s: %s\n" % (type(e).__name__, getattr(e, "lineno", "?"),
                     getattr(e, "msg", e))).encode("utf-8", "replace"))
        os._exit(81)
    if not audit:
        return code
    prefix = cwd + os.sep
    realpath, join, fsdecode, write, _exit = os.path.realpath, os.path.join, os.fsdecode, os.write, os._exit
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    deny = frozenset(("os.kill", "os.killpg", "signal.pthread_kill", "os.fork", "os.forkpty", "os.system",
                      "subprocess.Popen", "os.startfile", "pty.spawn", "os.setuid", "os.setgid", "os.chroot",
                      "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                      "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "socket.sethostname",
                      "socket.gethostname", "socket.listen"))
    deny_prefix = ("os.exec", "os.spawn", "os.posix_spawn", "ctypes.", "_ctypes.", "sys.remote_exec")
    deny_imports = frozenset(("_posixsubprocess", "_ctypes", "ctypes"))
    path_events = frozenset(("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                             "os.symlink", "os.link", "os.truncate", "os.utime", "shutil.rmtree",
                             "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.move",
                             "os.mkfifo", "os.mknod"))
    def refuse(what):
        write(2, ("\n__SANDBOX_VIOLATION__ %s\n" % what).encode("utf-8", "replace"))
        _exit(86)
    def inside(path):
        if isinstance(path, int):
            return True  # an fd it already holds
        try:
            p = realpath(join(cwd, fsdecode(path)))
        except Exception:
            return False
        return p == cwd or p.startswith(prefix)
    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                      (isinstance(flags, int) and flags & WRITE)
            if writing and not inside(path):
                refuse("open for writing outside the work dir: %r" % (path,))
        elif event in deny or event.startswith(deny_prefix):
            refuse(event)
        elif event == "import" and args and args[0] in deny_imports:
            refuse("import " + str(args[0]))
        elif event in path_events:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    refuse("%s outside the work dir: %r" % (event, arg))
    sys.addaudithook(hook)
    return code
_code = _sandbox_setup(sys.argv[1] == "1")
del _sandbox_setup
sys.argv = ["main.py"]
exec(_code, {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "main.py"})
'''


def _world_executable(path: str) -> bool:
    """Can a user who owns nothing (nobody) exec `path`? Every parent dir needs o+x."""
    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        while True:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
            if parent == os.path.dirname(parent):
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


@functools.lru_cache(maxsize=8)
def _interpreter(configured: str | None, drop: bool) -> str | None:
    if configured:
        return configured
    candidates = (os.path.realpath(sys.executable),) + _FALLBACK_PYTHONS
    for candidate in candidates:
        if os.path.exists(candidate) and (not drop or _world_executable(candidate)):
            return candidate
    return None


@functools.lru_cache(maxsize=8)
def _netns_available(python: str) -> bool:
    """Probe once per process: can a child unshare its network namespace here?"""
    probe = ("import ctypes, sys; "
             f"sys.exit(0 if ctypes.CDLL(None, use_errno=True).unshare({_CLONE_NEWNET}) == 0 else 1)")
    try:
        return subprocess.run([python, "-I", "-S", "-c", probe], env={}, timeout=10,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def _unshare():
    import ctypes  # resolved in the parent: the child after fork only calls it
    return ctypes.CDLL(None, use_errno=True).unshare


def _limits(cfg: SandboxConfig) -> list[tuple[int, tuple[int, int]]]:
    wanted = [(resource.RLIMIT_CPU, cfg.cpu_seconds, cfg.cpu_seconds + 1),
              (resource.RLIMIT_AS, cfg.memory_bytes, cfg.memory_bytes),
              (resource.RLIMIT_FSIZE, cfg.file_size_bytes, cfg.file_size_bytes),
              (resource.RLIMIT_NPROC, cfg.max_processes, cfg.max_processes),
              (resource.RLIMIT_NOFILE, cfg.max_open_files, cfg.max_open_files),
              (resource.RLIMIT_CORE, 0, 0)]
    out = []
    for res, soft, hard in wanted:
        _, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:   # an unprivileged parent cannot raise its hard limit
            hard, soft = min(hard, cur_hard), min(soft, cur_hard)
        out.append((res, (soft, hard)))
    return out


def _child_setup(limits, unshare, uid: int | None) -> None:
    """preexec_fn: only async-signal-tolerant syscalls, no imports, no locks."""
    for res, value in limits:
        resource.setrlimit(res, value)
    if unshare is not None and unshare(_CLONE_NEWNET) != 0:
        raise OSError("unshare(CLONE_NEWNET) failed")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _tail(handle, limit: int) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - limit))
    return handle.read().decode("utf-8", "replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _classify(rc: int, timed_out: bool, stderr: str, cfg: SandboxConfig) -> str | None:
    if _VIOLATION in stderr:
        return "sandbox_violation: " + stderr.rsplit(_VIOLATION, 1)[1].strip().splitlines()[0][:200]
    if _SYNTAX in stderr and rc == SYNTAX_EXIT:
        return "syntax_error: " + stderr.rsplit(_SYNTAX, 1)[1].strip().splitlines()[0][:200]
    if timed_out:
        return f"timeout: wall {cfg.wall_seconds:g}s"
    if rc == -signal.SIGXCPU:
        return f"cpu_limit: {cfg.cpu_seconds}s"
    last = _last_line(stderr)
    # Python ignores SIGXFSZ, so an over-limit write raises OSError(EFBIG) instead.
    if rc == -signal.SIGXFSZ or "[Errno 27]" in last:
        return f"file_size_limit: {cfg.file_size_bytes} bytes"
    if last.startswith("MemoryError") or "\nMemoryError" in stderr[-2000:]:
        return f"memory_limit: {cfg.memory_bytes} bytes"
    if rc < 0:
        return f"killed: signal {-rc}"
    if rc != 0:
        return f"tests_failed: {last or f'exit code {rc}'}"
    return None


def run_python(code: str, cfg: SandboxConfig = SandboxConfig()) -> SandboxResult:
    """Run `code` as a script in the sandbox; ok only when it exits 0 within every limit."""
    root = os.geteuid() == 0
    drop = cfg.drop_privileges and root
    python = _interpreter(cfg.python, drop)
    if python is None:
        return SandboxResult(False, f"sandbox_error: no python that uid {cfg.sandbox_uid} can execute",
                             None, "", "", 0.0)
    isolation = ["rlimits", "process group", "empty env"]
    netns = cfg.isolate_network and root and _netns_available(python)
    if netns:
        isolation.append("netns")
    elif cfg.isolate_network:
        isolation.append("no netns (unshare unavailable): network blocked by audit hook only")
    if drop:
        isolation.append(f"uid {cfg.sandbox_uid}")
    if cfg.audit_hook:
        isolation.append("audit hook")
    workdir = tempfile.mkdtemp(prefix="sandbox-", dir=cfg.tmp_root)
    try:
        with open(os.path.join(workdir, "main.py"), "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(code)
        if drop:
            for path in (workdir, os.path.join(workdir, "main.py")):
                os.chown(path, cfg.sandbox_uid, cfg.sandbox_uid)
        setup = functools.partial(_child_setup, _limits(cfg), _unshare() if netns else None,
                                  cfg.sandbox_uid if drop else None)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.monotonic()
            try:
                proc = subprocess.Popen(
                    [python, "-I", "-S", "-B", "-c", _PRELUDE, "1" if cfg.audit_hook else "0"],
                    cwd=workdir, env={}, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    start_new_session=True, close_fds=True, preexec_fn=setup)
            except (OSError, subprocess.SubprocessError) as exc:
                return SandboxResult(False, f"sandbox_error: {exc}", None, "", "", 0.0, tuple(isolation))
            timed_out = False
            try:
                proc.wait(timeout=cfg.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc.pid)   # stragglers too, on every exit path
            rc = proc.wait()
            wall = time.monotonic() - start
            stdout, stderr = _tail(out, cfg.max_output_bytes), _tail(err, cfg.max_output_bytes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    reason = _classify(rc, timed_out, stderr, cfg)
    return SandboxResult(reason is None, reason, rc, stdout, stderr, round(wall, 3), tuple(isolation), proc.pid)
