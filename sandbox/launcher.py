"""The sandbox's trusted launcher and supervisor: the first code the sandbox interpreter runs.

Standard library only: `sandbox.py` starts `python -I -S -B -c BOOT` and writes, through a pipe only
it holds, this file's source, landlock.py, harness.py, the config and the untrusted program; nothing
is read from a file another process could write. The launcher (the supervisor) then:

1. becomes a child subreaper, so every orphaned descendant of the run is re-parented to it;
2. unshares PID, network, mount, IPC and UTS namespaces (as root directly, otherwise inside a new user
   namespace; none where the kernel refuses, and the layers list says so);
3. forks the runner, which is PID 1 of the new PID namespace: it mounts a size- and inode-capped tmpfs
   on the run dir, sets rlimits, drops to the sandbox uid (as root), sets no_new_privs, applies
   Landlock, installs the seccomp filter, closes every other fd, reports its layers on a setup pipe
   and only then hands over to the harness; a required layer that fails ends it before any
   untrusted byte runs;
4. drains stdout/stderr (keeping tails, killing at the output cap) and the report pipe, kills the
   runner at the wall-clock limit, then SIGKILLs and reaps every remaining descendant (the PID
   namespace ends with its init; without one, a /proc sweep of its own children repeats until none
   is left), and only then prints one JSON result line for the verifier.
"""
import fcntl
import marshal
import os
import select
from _signal import SIGKILL   # not `signal`: its enum import costs ~8 ms per run
import time

SETUP_EXIT = 70
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 22, 36, 38
SECCOMP_MODE_FILTER = 2
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
REPORT_FD, SETUP_FD = 3, 4
_RLIMITS = (("cpu", "RLIMIT_CPU"), ("memory", "RLIMIT_AS"), ("file_size", "RLIMIT_FSIZE"),
            ("processes", "RLIMIT_NPROC"), ("open_files", "RLIMIT_NOFILE"), ("core", "RLIMIT_CORE"))

if __name__.startswith("_sandbox_"):   # shipped into the sandbox next to syscalls.py (sandbox.BOOT)
    import _sandbox_syscalls as syscalls
else:
    from sandbox import syscalls
_prctl_fn, _unshare, _mount, _capset = (syscalls.function(n) for n in ("prctl", "unshare", "mount", "capset"))


def _check(result, what):
    if result != 0:
        err = syscalls.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def _prctl(option, arg=0, arg3=0):
    ulong = syscalls.c_ulong
    _check(_prctl_fn(option, ulong(arg), ulong(arg3), ulong(0), ulong(0)), "prctl(%d)" % option)


def _write_file(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def unshare_namespaces(root):
    """Enter new namespaces for the runner; returns the names obtained (empty when refused)."""
    flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    if not root:
        flags |= CLONE_NEWUSER
    if _unshare(flags) != 0:
        return []
    if not root:   # map only ourselves: same ids inside, no other uid exists in there
        _write_file("/proc/self/setgroups", "deny")
        _write_file("/proc/self/uid_map", "%d %d 1" % (uid, uid))
        _write_file("/proc/self/gid_map", "%d %d 1" % (gid, gid))
    return (["userns"] if not root else []) + ["pidns", "netns", "mountns", "ipcns", "utsns"]


def _drop_capabilities():
    """capset(all zero): the runner keeps no capability of its user namespace."""
    header = (syscalls.c_uint32 * 2)(0x20080522, 0)
    data = (syscalls.c_uint32 * 6)()
    _check(_capset(header, data), "capset")


def _mount_tmpfs(path, size, inodes, uid, gid):
    _check(_mount(b"none", b"/", None, syscalls.c_ulong(MS_REC | MS_PRIVATE), None), "mount --make-rprivate /")
    options = "size=%d,nr_inodes=%d,mode=0700,uid=%d,gid=%d" % (size, inodes, uid, gid)
    _check(_mount(b"sandbox", os.fsencode(path), b"tmpfs", syscalls.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC),
                  options.encode()), "mount tmpfs")


class _SockFprog(syscalls.Structure):
    _fields_ = [("len", syscalls.c_ushort), ("filter", syscalls.c_void_p)]


def _install_seccomp(program):
    buffer = syscalls.buffer(program)
    fprog = _SockFprog(len(program) // 8, syscalls.addressof(buffer))
    ulong = syscalls.c_ulong
    _check(_prctl_fn(PR_SET_SECCOMP, ulong(SECCOMP_MODE_FILTER), syscalls.byref(fprog), ulong(0), ulong(0)),
           "seccomp")


def _set_rlimits(limits):
    import resource
    for key, name in _RLIMITS:
        if limits.get(key) is None:
            continue
        res = getattr(resource, name)
        soft = hard = int(limits[key])
        if key == "cpu":
            hard = soft + 1   # SIGXCPU at the soft limit, SIGKILL one second later
        cur_hard = resource.getrlimit(res)[1]
        if cur_hard != resource.RLIM_INFINITY:   # an unprivileged process cannot raise its hard limit
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        resource.setrlimit(res, (soft, hard))


def _tasks_of(uid):
    """Threads of every process owned by `uid` (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat("/proc/" + entry).st_uid == uid:
                    count += len(os.listdir("/proc/%s/task" % entry))
            except OSError:
                continue
    return count


def _runner(p, landlock, harness, namespaces, stub_pid):
    """Child side: every layer, then the harness. Runs only trusted code until harness.run."""
    os.setsid()   # its own session and process group: kill(0) and killpg reach only the run
    layers, work, uid = [], p["work_dir"], p.get("uid")
    group = p.get("cgroup")
    if group:   # before anything else: every later process of the run is born inside (the supervisor is not)
        for d in group["dirs"]:
            _write_file(os.path.join(d, "cgroup.procs"), "0")
        layers.append(group["layer"])
    tmpfs = p.get("tmpfs")
    if tmpfs and "mountns" in namespaces:
        owner = uid if uid is not None else os.geteuid()
        _mount_tmpfs(work, tmpfs["bytes"], tmpfs["inodes"], owner, owner if uid is not None else os.getegid())
        layers.append("tmpfs %d MiB/%d inodes" % (tmpfs["bytes"] >> 20, tmpfs["inodes"]))
    os.chdir(work)
    limits = p["limits"]
    if uid is None and "userns" not in namespaces and not group and limits.get("processes") is not None:
        # RLIMIT_NPROC counts every task of this uid, the verifier's own threads included: the run's budget
        # comes on top of what the uid already runs (root runs drop to 65534; user namespaces count apart)
        limits = dict(limits, processes=limits["processes"] + _tasks_of(os.geteuid()))
    _set_rlimits(limits)
    layers.append("rlimits")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        layers.append("uid %d" % uid)
    elif "userns" in namespaces:
        _drop_capabilities()
    _prctl(PR_SET_PDEATHSIG, SIGKILL)   # after the uid change, which clears it
    if "pidns" not in namespaces and os.getppid() != stub_pid:
        os._exit(SETUP_EXIT)   # the supervisor is already gone
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    layers.append("no_new_privs")
    errors = []
    if p.get("landlock"):
        try:
            layers += landlock.restrict(p["landlock"]["rules"], p["landlock"]["abi"])
        except OSError as exc:
            errors.append("landlock: %s" % exc)
    if p.get("seccomp"):
        try:
            _install_seccomp(bytes.fromhex(p["seccomp"]))
            layers.append("seccomp")
        except OSError as exc:
            errors.append("seccomp: %s" % exc)
    have = {"seccomp": "seccomp" in layers, "landlock": any(x.startswith("landlock abi") for x in layers)}
    missing = [name for name in p.get("required", ()) if not have.get(name)]
    if missing:
        os.write(SETUP_FD, marshal.dumps({"error": "missing layer %s (%s)" % (
            ", ".join(missing), "; ".join(errors) or "not offered")}))
        os._exit(SETUP_EXIT)
    os.write(SETUP_FD, marshal.dumps({"layers": layers, "errors": errors}))
    os.close(SETUP_FD)
    harness.run(p["spec"], REPORT_FD, p["nonce"])


def _start_runner(p, landlock, harness, namespaces):
    """fork the runner with fds 0 (/dev/null), 1, 2, REPORT_FD and SETUP_FD; returns (pid, read ends)."""
    pipes = [os.pipe() for _ in range(4)]   # stdout, stderr, report, setup
    stub_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            sources = [os.open("/dev/null", os.O_RDONLY)] + [w for _, w in pipes]
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in sources]   # out of the way of 0..4
            for target, fd in enumerate(high):
                os.dup2(fd, target)
            os.closerange(SETUP_FD + 1, 1 << 16)
            _runner(p, landlock, harness, namespaces, stub_pid)
        except BaseException as exc:
            try:
                os.write(SETUP_FD, marshal.dumps({"error": "setup failed: %r" % (exc,)}))
            except BaseException:
                pass
        os._exit(SETUP_EXIT)
    for _, w in pipes:
        os.close(w)
    return pid, [r for r, _ in pipes]


def _children(me):
    """Pids whose parent is `me` (CONFIG_PROC_CHILDREN is not everywhere: scan /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[1]) == me:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return kids


def sweep(deadline):
    """SIGKILL and reap every remaining descendant (all are our children: we are their subreaper).
    Returns True once waitpid says no child is left."""
    me = os.getpid()
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid:
            continue
        kids = _children(me)
        for kid in kids:
            try:
                os.kill(kid, SIGKILL)
            except ProcessLookupError:
                pass
        if kids:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return True
        else:
            time.sleep(0.001)   # a descendant is being re-parented to us right now
    return False


class _Tail:
    def __init__(self, keep):
        self.keep, self.data, self.total = keep, bytearray(), 0

    def add(self, chunk):
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * self.keep:
            del self.data[:-self.keep]

    def text(self):
        return bytes(self.data[-self.keep:]).decode("utf-8", "replace") if self.keep else ""


def supervise(pid, fds, p):
    """Drain the runner's pipes until it exits, times out or floods; then end every descendant."""
    start = time.monotonic()
    deadline = start + p["wall_seconds"]
    out, err = _Tail(p["tail_bytes"]), _Tail(p["tail_bytes"])
    report, setup = _Tail(4096), _Tail(65536)
    sinks = dict(zip(fds, (out, err, report, setup)))
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    status, killed = None, None
    while status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            killed = "timeout"
            break
        watch = list(sinks) + ([pidfd] if pidfd is not None else [])
        ready = select.select(watch, [], [], left if pidfd is not None else min(left, 0.02))[0]
        for fd in ready:
            if fd == pidfd:
                continue
            chunk = os.read(fd, 1 << 16)
            if chunk:
                sinks[fd].add(chunk)
            else:
                del sinks[fd]
        if out.total + err.total > p["max_output_bytes"]:
            killed = "output"
            break
        done, code, usage = os.wait4(pid, os.WNOHANG)
        if done:
            status = code
    if status is None:
        os.kill(pid, SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    swept = sweep(time.monotonic() + 10)
    for fd, sink in list(sinks.items()):   # every writer is dead: read to EOF, bounded by pipe buffers
        os.set_blocking(fd, False)
        try:
            while sink.total < (1 << 24):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                sink.add(chunk)
        except BlockingIOError:
            pass
    exit_info = ({"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status)
                 else {"exit": os.WEXITSTATUS(status)})
    return {"status": exit_info, "killed": killed, "swept": swept, "cpu": usage.ru_utime + usage.ru_stime,
            "wall": round(time.monotonic() - start, 4), "report": bytes(report.data).decode("latin-1"),
            "setup": bytes(setup.data),
            "stdout": out.text(), "stderr": err.text(), "output_bytes": out.total + err.total}


def main(p, landlock, harness):
    layers = []
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        layers.append("subreaper")
    except OSError:
        pass
    namespaces = unshare_namespaces(os.geteuid() == 0) if p.get("namespaces") else []
    layers += namespaces
    pid, fds = _start_runner(p, landlock, harness, namespaces)
    result = supervise(pid, fds, p)
    result["layers"] = layers
    data = marshal.dumps(result)
    while data:
        data = data[os.write(1, data):]
    return 0
