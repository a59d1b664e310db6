"""The sandbox's seccomp-bpf filter, compiled once in the verifier with libseccomp (pyseccomp).

The program is exported as raw BPF and installed by the launcher inside the sandbox with one prctl
(the sandbox interpreter runs `-I -S` and cannot import pyseccomp). Default allow, deny-list with
EPERM: CPython needs too wide a set of syscalls for an allow-list to stay maintainable, and files,
TCP and signals are already confined by Landlock; this filter takes away the kernel interfaces that
Landlock does not cover (sockets of any family, datagram socketpairs, listmount/statmount, ptrace, namespaces, mounts, bpf, keyrings, io_uring,
SysV/POSIX IPC, inotify, memfd, perf, module loading ...). Other architectures' syscalls are killed.
"""
from __future__ import annotations

import errno
import functools
import platform
import socket
import tempfile

# Interfaces with no use in a test run that reach outside the sandbox or into the kernel's attack surface.
DENIED = (
    "socket", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "open_by_handle_at", "name_to_handle_at",
    "iopl", "ioperm", "syslog", "sethostname", "setdomainname", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "vhangup", "lookup_dcookie",
    "inotify_init", "inotify_init1", "fanotify_init", "memfd_create", "memfd_secret",
    "shmget", "shmat", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semctl",
    "semtimedop", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
)
# Signals: without Landlock's signal scope, nothing may be signalled (a same-uid verifier would be in reach).
SIGNALS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal")
_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                    0x40000000, 0x00000080)   # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
# listmount/statmount (Linux 6.8): the host's mount table, the run dir's random path included. By number:
# libseccomp < 2.6 does not know their names. x86_64 and aarch64 share them (the unified table).
_MOUNT_QUERIES = {"x86_64": (457, 458), "aarch64": (457, 458)}
_SOCK_TYPE_MASK, _SOCK_STREAM, _SOCK_SEQPACKET = 0xF, 1, 5
# Signal routes that bypass kill(): a fd's owner receives SIGIO (or any F_SETSIG signal) when it is ready.
_F_SETOWN, _F_SETSIG, _F_SETOWN_EX = 8, 10, 15
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902


class SeccompUnavailable(RuntimeError):
    """pyseccomp or libseccomp.so.2 is missing, or this architecture is not supported."""


@functools.lru_cache(maxsize=4)
def filter_bpf(allow_signals: bool) -> bytes:
    """Raw BPF (struct sock_filter[]) of the sandbox filter; `allow_signals` when Landlock scopes them."""
    try:
        import pyseccomp as sc
        deny = sc.ERRNO(errno.EPERM)
        f = sc.SyscallFilter(sc.ALLOW)
        f.set_attr(sc.Attr.CTL_NNP, 0)   # the launcher sets no_new_privs itself, before Landlock
        for name in DENIED + (() if allow_signals else SIGNALS):
            _add(f, deny, name)
        # A stream socketpair() is safe (both ends stay inside); asyncio's event loop needs it. A datagram
        # one is not: sendto() with an address reaches any pathname socket the uid may write (/dev/log),
        # and Landlock does not cover pathname Unix sockets. Only SOCK_STREAM and SOCK_SEQPACKET pairs.
        f.add_rule(deny, "socketpair", sc.Arg(0, sc.NE, socket.AF_UNIX))
        for sock_type in range(16):
            if sock_type not in (_SOCK_STREAM, _SOCK_SEQPACKET):
                f.add_rule(deny, "socketpair", sc.Arg(1, sc.MASKED_EQ, _SOCK_TYPE_MASK, sock_type))
        for number in _MOUNT_QUERIES.get(platform.machine(), ()):
            _add(f, deny, number)
        if not allow_signals:
            for command in (_F_SETOWN, _F_SETSIG, _F_SETOWN_EX):
                f.add_rule(deny, "fcntl", sc.Arg(1, sc.EQ, command))
            for request in (_FIOSETOWN, _SIOCSPGRP):
                f.add_rule(deny, "ioctl", sc.Arg(1, sc.EQ, request))
        for flag in _NAMESPACE_FLAGS:
            f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")   # flags live in memory: glibc falls back to clone
        for request in (_TIOCSTI, _TIOCLINUX):
            f.add_rule(deny, "ioctl", sc.Arg(1, sc.EQ, request))
        with tempfile.TemporaryFile() as out:
            f.export_bpf(out)
            out.seek(0)
            program = out.read()
    except (ImportError, OSError, RuntimeError, AttributeError) as exc:
        raise SeccompUnavailable(f"cannot build the seccomp filter: {exc!r}") from exc
    if not program or len(program) % 8:
        raise SeccompUnavailable(f"libseccomp exported {len(program)} bytes of BPF")
    return program


def _add(f, action, name: str | int) -> None:
    try:
        f.add_rule(action, name)
    except (OSError, RuntimeError, ValueError):
        pass   # a syscall this architecture (or libseccomp version) does not know cannot be called either
