"""Landlock (Linux >= 5.13) through raw syscalls: an unprivileged, irrevocable allow-list for files,
TCP ports (ABI >= 4) and IPC scopes (ABI >= 6).

Standard library only: the sandbox launcher ships this file's source to the sandbox interpreter,
which cannot import this package. The verifier imports it too, to probe the ABI.
Access a process is not granted here is denied once `restrict` returns, for it and every child;
stat() and path walks are not covered by Landlock (names and sizes stay visible).
"""
import os

if __name__.startswith("_sandbox_"):   # shipped into the sandbox next to syscalls.py (sandbox.BOOT)
    import _sandbox_syscalls as syscalls
else:
    from sandbox import syscalls

# x86_64, aarch64 and every other architecture share these numbers (unified syscall table).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15            # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1                     # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1          # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # rights a rule on a file may hold
READ = READ_FILE | READ_DIR
WRITE_TREE = (READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM | MAKE_FIFO
              | REFER | TRUNCATE)   # the run's own directory: everything but exec, devices and sockets


class _RulesetAttr(syscalls.Structure):
    _fields_ = [("handled_access_fs", syscalls.c_uint64), ("handled_access_net", syscalls.c_uint64),
                ("scoped", syscalls.c_uint64)]


class _PathBeneath(syscalls.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", syscalls.c_uint64), ("parent_fd", syscalls.c_int32)]


_syscall_fn = syscalls.function("syscall", syscalls.c_long)


def _syscall(*args) -> int:
    result = _syscall_fn(*args)
    if result < 0:
        err = syscalls.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    try:
        return _syscall(SYS_CREATE_RULESET, None, syscalls.c_ulong(0), CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0


def handled_fs(version: int) -> int:
    return _FS_BY_ABI.get(version, _FS_BY_ABI[5]) if version > 0 else 0


def restrict(rules, version: int) -> list:
    """Allow only `rules` ([(path, rights)]) for files, deny TCP bind/connect (ABI >= 4), scope abstract
    Unix sockets and signals to this domain (ABI >= 6); then restrict this thread and its future children.

    Needs no_new_privs (or CAP_SYS_ADMIN). Paths that do not exist are skipped. Returns the layer
    names obtained; raises OSError when the ruleset cannot be enforced."""
    fs = handled_fs(version)
    attr = _RulesetAttr(fs, NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24
    ruleset = _syscall(SYS_CREATE_RULESET, syscalls.byref(attr), syscalls.c_ulong(size), 0)
    try:
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if os.fstat(fd).st_mode & 0o170000 != 0o040000:   # not a directory
                    rights &= FILE_ONLY
                rule = _PathBeneath(rights & fs, fd)
                if rule.allowed_access:
                    _syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, syscalls.byref(rule), 0)
            finally:
                os.close(fd)
        _syscall(SYS_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    layers = [f"landlock abi {version}"]
    if version >= 4:
        layers.append("landlock tcp")
    if version >= 6:
        layers.append("landlock scope")
    return layers
