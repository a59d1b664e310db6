"""Hostile synthetic solutions against the verification sandbox (tests/reliability/test_sandbox_attacks.py).

Every attack is a *wrong* solution of `add` (the tests assert add(2, 2) == 4) plus code that tries to
escape or to turn the verdict into a pass. Attack code prints "ESCAPED: <what>" whenever a step that
the sandbox must stop succeeds; the test also checks the outside world itself (files, listeners, the
parent's fds, surviving processes). Placeholders filled in by the test:
  @MARK@      unique per run: in every path/argv an attack creates, so survivors and files are found
  @OUTSIDE@   a world-writable directory outside the run (the DAC would let uid 65534 write there)
  @PORT@ @UNIX@ @ABSTRACT@  a TCP port on 127.0.0.1, a Unix socket path, an abstract socket name we listen on
  @VPID@      the verifier's pid      @FD@  an fd the verifier holds open on @OUTSIDE@/parent-fd
  @REPO@      this repository
"""
from __future__ import annotations

import dataclasses

WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(2, 2) == 4, 'add is wrong'\n"
CHECK_TESTS = "def check(candidate):\n    assert candidate(2, 2) == 4\n"


@dataclasses.dataclass(frozen=True)
class Attack:
    name: str
    code: str                      # appended to WRONG (top level of the solution module)
    expected: tuple[str, ...]      # acceptable reject reason keys
    hook: bool = False             # run with the diagnostics audit hook (default: kernel layers only)
    tests: str = TESTS
    entry_point: str | None = None
    wall_seconds: float = 2.0      # the run's wall-clock limit (short for attacks that only end by it)


def _try(what: str, body: str) -> str:
    """Attack snippet: run `body`; reaching its end means the sandbox let it through."""
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    return f"try:\n{lines}\n    print('ESCAPED: {what}', flush=True)\nexcept Exception as _e:\n    pass\n"


_LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
_ORPHAN = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        for _ in range(600):
            for target in ('@OUTSIDE@/orphan-@MARK@', '/tmp/orphan-@MARK@'):
                try:
                    open(target, 'w').write('alive')
                except OSError:
                    pass
            time.sleep(0.1)
    os._exit(0)
time.sleep(0.2)
"""

ATTACKS = [
    Attack("hook_disable_via_gc", """
import gc
for obj in gc.get_objects():
    if callable(obj) and getattr(obj, '__name__', '') == 'hook' and obj.__closure__:
        for cell in obj.__closure__:
            try:
                if isinstance(cell.cell_contents, frozenset):
                    cell.cell_contents = frozenset()
                elif callable(cell.cell_contents) and getattr(cell.cell_contents, '__name__', '') == 'inside':
                    cell.cell_contents = lambda path: True
            except ValueError:
                pass
import ctypes, os
os.setsid()
open('/tmp/hook-@MARK@', 'w').write('x')
""", ("sandbox_violation", "tests_failed"), hook=True),   # the solution process's hook spares gc: Landlock stops it
    Attack("setsid_sigterm_orphan", _ORPHAN, ("tests_failed",)),
    Attack("inotify_watch_tmp", _LIBC + _try("inotify on /tmp", """
fd = libc.inotify_init1(0)
assert fd >= 0
assert libc.inotify_add_watch(fd, b'/tmp', 0x100 | 0x2) >= 0
""") + _ORPHAN, ("tests_failed",)),
    Attack("chdir_tmp_write", _try("write in /tmp after chdir", """
import os
os.chdir('/tmp')
open('chdir-@MARK@', 'w').write('x')
""") + _try("write in outside dir after chdir", """
os.chdir('@OUTSIDE@')
open('chdir-@MARK@', 'w').write('x')
"""), ("tests_failed",)),
    Attack("dir_fd_write", _try("O_PATH dir_fd write", """
import os
d = os.open('@OUTSIDE@', os.O_PATH | os.O_DIRECTORY)
os.close(os.open('dirfd-@MARK@', os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=d))
""") + _try("O_RDONLY dir_fd write", """
d = os.open('/tmp', os.O_RDONLY | os.O_DIRECTORY)
os.close(os.open('dirfd-@MARK@', os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=d))
"""), ("tests_failed",)),
    Attack("shm_open", _try("shm_open", """
import _posixshmem, os
fd = _posixshmem.shm_open('/shm-@MARK@', os.O_CREAT | os.O_RDWR, 0o666)
os.write(fd, b'x' * 4096)
"""), ("tests_failed",)),
    Attack("dev_shm_write", _try("write /dev/shm", "open('/dev/shm/devshm-@MARK@', 'w').write('x' * 4096)"),
           ("tests_failed",)),
    Attack("proc_environ", """
import os
for pid in (@VPID@, os.getppid(), 1, 'self'):
    try:
        data = open('/proc/%s/environ' % pid, 'rb').read()
        print('ESCAPED: /proc/%s/environ' % pid, data[:4000])
    except OSError:
        pass
""", ("tests_failed",)),
    Attack("tcp_localhost", _try("TCP connect 127.0.0.1", """
import socket
s = socket.create_connection(('127.0.0.1', @PORT@), timeout=1)
s.sendall(b'@MARK@')
""") + _try("TCP bind", """
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen()
"""), ("tests_failed",)),
    Attack("unix_socket_path", _try("path unix socket", """
import socket
s = socket.socket(socket.AF_UNIX)
s.connect('@UNIX@')
s.sendall(b'@MARK@')
"""), ("tests_failed",)),
    Attack("abstract_unix_socket", _try("abstract unix socket", """
import socket
s = socket.socket(socket.AF_UNIX)
s.connect('\\0@ABSTRACT@')
s.sendall(b'@MARK@')
""") + _try("socketpair to outside", """
a, b = socket.socketpair()
a.connect('\\0@ABSTRACT@')
"""), ("tests_failed",)),
    Attack("exit_os_exit_0", "import os\nos._exit(0)\n", ("solution_died",)),
    Attack("exit_atexit", "import atexit, os\natexit.register(os._exit, 0)\n", ("tests_failed",)),
    Attack("exit_main_guard", "import sys\ndef main():\n    return 0\n"
                              "if __name__ == '__main__':\n    sys.exit(main())\n", ("tests_failed",)),
    Attack("exit_systemexit_in_function", "import sys\ndef add(a, b):\n    sys.exit(0)\n", ("exit_called",)),
    Attack("forge_report_fds", """
import os
for fd in range(0, 64):
    for line in (b'PASS 00000000000000000000000000000000 \\n', b'PASS\\n'):
        try:
            os.write(fd, line)
        except OSError:
            pass
os._exit(0)
""", ("report_tampered", "no_report", "solution_died")),
    Attack("ctypes_syscalls", _LIBC + """
import struct
calls = {  # x86_64 numbers; each must fail
    'unshare(CLONE_NEWUSER)': (272, 0x10000000), 'mount': (165, b'none', b'/tmp', b'tmpfs', 0, None),
    'ptrace(ATTACH verifier)': (101, 16, @VPID@, 0, 0), 'bpf': (321, 0, None, 0), 'keyctl': (250, 0, 0),
    'io_uring_setup': (425, 8, ctypes.create_string_buffer(120)), 'userfaultfd': (323, 0),
    'perf_event_open': (298, ctypes.create_string_buffer(128), 0, -1, -1, 0),
    'process_vm_readv': (310, @VPID@, None, 0, None, 0, 0), 'setns': (308, 0, 0),
    'pidfd_getfd': (438, 0, 0, 0), 'add_key': (248, b'user', b'k', b'v', 1, -2),
    'socket(AF_INET)': (41, 2, 1, 0), 'socket(AF_NETLINK)': (41, 16, 3, 0),
    'clone(CLONE_NEWNET)': (56, 0x40000000 | 17, 0, 0, 0, 0),
}
for name, args in calls.items():
    if libc.syscall(*args) >= 0:
        print('ESCAPED:', name, flush=True)
""", ("tests_failed",)),
    Attack("multiprocessing_orphan", """
import multiprocessing, os, time
def child():
    os.setsid()
    for _ in range(300):
        try:
            open('@OUTSIDE@/mp-@MARK@', 'w').write('alive')
        except OSError:
            pass
        time.sleep(0.1)
multiprocessing.set_start_method('fork', force=True)
multiprocessing.Process(target=child).start()
try:
    multiprocessing.Pool(2)
    print('ESCAPED: multiprocessing pool (POSIX semaphores in /dev/shm)')
except Exception:
    pass
time.sleep(0.2)
""", ("tests_failed",)),
    Attack("posix_spawn_orphan", """
import os, sys, time
code = "import os, time\\nos.setsid()\\nwhile True:\\n    time.sleep(1)  # @MARK@"
try:
    os.posix_spawn(sys.executable, [sys.executable, '-c', code], {})
except OSError:
    pass
time.sleep(0.3)
""", ("tests_failed",)),
    Attack("posixsubprocess_orphan", """
import subprocess, sys, time
try:
    subprocess.Popen(['/bin/sh', '-c', 'echo ESCAPED: ran /bin/sh @MARK@'])
except OSError:
    pass
try:
    subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(1)  # @MARK@'],
                     start_new_session=True)
except OSError:
    pass
time.sleep(0.3)
""", ("tests_failed",)),
    Attack("threads_forging", """
import os, threading, time
def forge():
    for fd in range(3, 64):
        try:
            os.write(fd, b'PASS 0 \\n')
        except OSError:
            pass
    while True:
        time.sleep(1)
threading.Thread(target=forge).start()
time.sleep(0.05)
""", ("tests_failed", "report_tampered", "solution_died")),
    Attack("fd_inheritance", """
import os
for fd in list(range(3, 1024)) + [@FD@]:
    try:
        os.write(fd, b'ESCAPED: wrote to an inherited fd @MARK@\\n')
    except OSError:
        pass
""", ("tests_failed", "report_tampered", "solution_died")),
    Attack("huge_stdout", "import sys\nchunk = 'x' * (1 << 20)\nwhile True:\n    sys.stdout.write(chunk)\n",
           ("output_limit",)),
    Attack("disk_exhaustion", """
i = 0
block = b'x' * (1 << 19)
while True:
    with open('f%d' % i, 'wb') as f:
        f.write(block)
    i += 1
""", ("disk_limit",)),
    Attack("inode_exhaustion", "import os\ni = 0\nwhile True:\n    os.mkdir('d%d' % i)\n    i += 1\n", ("disk_limit",)),
    Attack("proc_self_mem", _try("/proc/self/mem", """
f = open('/proc/self/mem', 'r+b')
f.seek(id(add))
f.write(b'x')
"""), ("tests_failed",)),
    Attack("symlink_escape", _try("write through a symlink", """
import os
os.symlink('@OUTSIDE@', 'out')
open('out/link-@MARK@', 'w').write('x')
""") + _try("read through a symlink", """
os.symlink('/etc/passwd', 'pw')
print(open('pw').read())
"""), ("tests_failed",)),
    Attack("hardlink_escape", _try("hard link to /etc/passwd", """
import os
os.link('/etc/passwd', 'pw')
print(open('pw').read())
""") + _try("hard link into outside dir", """
open('mine', 'w').write('x')
os.link('mine', '@OUTSIDE@/hard-@MARK@')
"""), ("tests_failed",)),
    Attack("import_project", _try("import the project", """
import sys
sys.path.insert(0, '@REPO@')
import pipelines.curate
""") + _try("read the project", "print(open('@REPO@/setup.py').read()[:100])"), ("tests_failed",)),
    Attack("kill_verifier", """
import os, signal
for target in (@VPID@, -1, os.getppid()):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
try:
    os.killpg(os.getpgid(@VPID@), signal.SIGKILL)
except OSError:
    pass
""", ("tests_failed",)),
    Attack("fork_bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
           ("timeout", "cpu_limit", "killed", "tests_failed"), wall_seconds=1.0),
    Attack("memory_bomb", "x = bytearray(10 * 1024 ** 3)\n", ("memory_limit",)),
    # cpu_limit needs 1 s of CPU: on a loaded machine the wall limit may come first (both end the run).
    Attack("cpu_burn", "while True:\n    pass\n", ("cpu_limit", "timeout"), wall_seconds=1.5),
    Attack("sleep_forever", "import time\ntime.sleep(600)\n", ("timeout",), wall_seconds=0.5),
    Attack("list_and_read_outside", """
import os
for d in ('/tmp', '/dev/shm', '/proc', '/root', '@OUTSIDE@', '..', '/etc'):
    try:
        print('ESCAPED: listed', d, os.listdir(d)[:5])
    except OSError:
        pass
for f in ('/etc/passwd', '/etc/shadow', '/proc/self/status', '@REPO@/README.md'):
    try:
        print('ESCAPED: read', f, open(f).read()[:50])
    except OSError:
        pass
""", ("tests_failed",)),
    Attack("raise_limits_and_ids", """
import os, resource
for res in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE):
    try:
        resource.setrlimit(res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print('ESCAPED: raised rlimit', res)
    except (ValueError, OSError):
        pass
for fn in (os.setuid, os.setgid):
    try:
        fn(0)
        print('ESCAPED: became root')
    except OSError:
        pass
""", ("tests_failed",)),
    Attack("ipc_and_memfd", _LIBC + """
if libc.syscall(29, 0, 1 << 20, 0o1000 | 0o666) >= 0:   # shmget(IPC_PRIVATE, IPC_CREAT)
    print('ESCAPED: SysV shm')
if libc.syscall(68, 0, 0o1000 | 0o666) >= 0:   # msgget
    print('ESCAPED: SysV msg queue')
if libc.mq_open(b'/mq-@MARK@', 0o100 | 2, 0o666, None) >= 0:
    print('ESCAPED: POSIX mq')
try:
    os.memfd_create('m')
    print('ESCAPED: memfd')
except OSError:
    pass
""", ("tests_failed",)),
    Attack("solution_defines_check", "def check(candidate):\n    return None\n", ("tests_failed",),
           tests=CHECK_TESTS, entry_point="add"),
]
