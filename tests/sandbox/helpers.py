"""Test helpers for the sandbox: find surviving processes of a run, run the verifier as another uid (UserWorker)."""
from __future__ import annotations

import os
import pickle
import traceback

from sandbox.bridge import _exactly   # read exactly n bytes or EOFError

NOBODY = 65534


def processes_with(*needles: str) -> list[int]:
    """Live (non-zombie) pids whose command line contains any of `needles`."""
    found = []
    wanted = [n.encode() for n in needles if n]
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and any(n in cmdline for n in wanted):
            found.append(int(entry))
    return found


def _warm_up() -> None:
    """Import and build in this (root) process what the child needs: CI's interpreter lives under /root,
    which uid 65534 cannot read, so nothing may be imported lazily after the drop."""
    import sandbox.execution as sandbox
    from sandbox import seccomp
    for allow_signals in (True, False):
        try:
            seccomp.filter_bpf(allow_signals)
        except seccomp.SeccompUnavailable:
            pass
    sandbox.run_tests("pass", "")


def _send(fd: int, obj) -> None:
    data = pickle.dumps(obj)
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int):
    return pickle.loads(_exactly(fd, int.from_bytes(_exactly(fd, 8), "little")))


class UserWorker:
    """A forked child that dropped to `uid` once and then runs calls sent to it (module-level functions):
    its interpreter probe and caches survive between calls, as in a long-lived non-root worker."""

    def __init__(self, uid: int):
        _warm_up()
        self.uid = uid
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._to_child)
            os.close(self._from_child)
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                while True:
                    fn, args, kwargs = _receive(to_child)
                    try:
                        reply = ("ok", fn(*args, **kwargs))
                    except BaseException:
                        reply = ("error", traceback.format_exc())
                    _send(from_child, reply)
            finally:
                os._exit(0)
        os.close(to_child)
        os.close(from_child)

    def call(self, fn, *args, **kwargs):
        _send(self._to_child, (fn, args, kwargs))
        kind, value = _receive(self._from_child)
        if kind == "error":
            raise RuntimeError(f"as uid {self.uid}:\n{value}")
        return value

    def close(self) -> None:
        os.close(self._to_child)
        os.close(self._from_child)
        os.waitpid(self.pid, 0)
