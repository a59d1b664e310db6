"""The interpreter a verification run uses, and what Landlock lets it read.

Probed once per (interpreter, uid) in a subprocess: its real path, bytecode magic, standard library dirs,
site-packages (granted only for `--verify-python`) and the shared libraries its extension modules map.
The rules grant reading the stdlib without its site-packages, the granted package dirs, those libraries
(their directories, unless a directory also holds the stdlib, as pyenv's lib/ does) and exec of the
interpreter and the ELF loader (so a run may start the interpreter again, still sandboxed).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import stat
import subprocess
import sys

from sandbox import landlock

_FALLBACK_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
_SYSTEM_FILES = (("/etc/ld.so.cache", landlock.READ_FILE), ("/dev/null", landlock.READ_FILE | landlock.WRITE_FILE),
                 ("/dev/urandom", landlock.READ_FILE), ("/dev/random", landlock.READ_FILE),
                 ("/dev/zero", landlock.READ_FILE))


class SandboxUnavailable(RuntimeError):
    """A required layer (seccomp, Landlock) or a usable interpreter is missing."""


@dataclasses.dataclass(frozen=True)
class Interpreter:
    executable: str                      # real path
    version: str
    magic: str                           # bytecode magic number (hex)
    rules: tuple                         # Landlock read/exec rules: ((path, rights), ...)
    packages: tuple[str, ...]            # granted site-packages dirs (added to sys.path)


def _readable(path: str, uid: int | None) -> bool:
    """Can `uid` (None: us) read `path`? For another uid, every parent needs o+x and the path o+r."""
    if uid is None:
        return os.access(path, os.R_OK)
    try:
        path = os.path.realpath(path)
        if not os.stat(path).st_mode & stat.S_IROTH:
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


_PROBE = r'''
import importlib.util, json, os, site, sys, sysconfig
paths = sysconfig.get_paths()
dynload = [p for p in sys.path if p.endswith("lib-dynload")]
for d in dynload:
    for name in sorted(os.listdir(d)):
        if name.endswith(".so") and not name.startswith(("_test", "xx", "_xx", "_ctypes_test")):
            try:
                __import__(name.split(".")[0])
            except BaseException:
                pass
maps = sorted({l.split()[-1] for l in open("/proc/self/maps") if len(l.split()) > 5 and l.split()[-1].startswith("/")})
print(json.dumps({"executable": os.path.realpath(sys.executable), "version": sys.version.split()[0],
                  "stdlib": sorted({paths["stdlib"], paths["platstdlib"]}), "site": site.getsitepackages(),
                  "maps": maps, "magic": importlib.util.MAGIC_NUMBER.hex()}))
'''


@functools.lru_cache(maxsize=8)
def interpreter(python: str | None, uid: int | None) -> Interpreter:
    """Probe `python` (a path, a virtualenv, or None for the default) once; `uid`: who must read it."""
    if python:
        if os.path.isdir(python):
            found = [os.path.join(python, "bin", n) for n in ("python3", "python")
                     if os.path.exists(os.path.join(python, "bin", n))]
            if not found:
                raise SandboxUnavailable(f"--verify-python {python}: no bin/python3 in that directory")
            python = found[0]
        return _probe(python, uid, grant_packages=True)
    errors = []
    for candidate in (os.path.realpath(getattr(sys, "_base_executable", sys.executable)),) + _FALLBACK_PYTHONS:
        if os.path.exists(candidate):
            try:
                return _probe(candidate, uid, grant_packages=False)
            except SandboxUnavailable as exc:
                errors.append(str(exc))
    raise SandboxUnavailable("no usable sandbox interpreter: " + "; ".join(errors))


def _probe(python: str, uid: int | None, grant_packages: bool) -> Interpreter:
    try:
        # With packages, site must run: it is what makes a virtualenv's prefix (and its site-packages) apply.
        flags = ["-I", "-B"] if grant_packages else ["-I", "-S", "-B"]
        out = subprocess.run([python, *flags, "-c", _PROBE], env={}, capture_output=True,
                             timeout=60, stdin=subprocess.DEVNULL, check=True).stdout
        info = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise SandboxUnavailable(f"{python}: cannot probe the interpreter ({exc})") from exc
    packages = tuple(p for p in info["site"] if os.path.isdir(p)) if grant_packages else ()
    trees = info["stdlib"] + list(packages)
    for path in [info["executable"]] + trees:
        if not _readable(path, uid):
            raise SandboxUnavailable(f"{path} is not readable by uid {uid if uid is not None else os.geteuid()}")
    rules = [(info["executable"], landlock.READ_FILE | landlock.EXECUTE)]
    for tree in info["stdlib"]:   # the stdlib, without the site-packages that may live inside it
        rules.append((tree, landlock.READ_DIR))
        rules += [(os.path.join(tree, n), landlock.READ) for n in sorted(os.listdir(tree))
                  if n not in ("site-packages", "dist-packages")]
    rules += [(p, landlock.READ) for p in packages]
    lib_dirs = set()
    for lib in info["maps"]:
        if any(lib.startswith(t.rstrip("/") + "/") for t in info["stdlib"]) or lib == info["executable"]:
            continue
        base = os.path.basename(lib)
        if base.startswith(("ld-linux", "ld-musl")):
            rules.append((lib, landlock.READ_FILE | landlock.EXECUTE))   # the ELF loader: re-exec works
        folder = os.path.dirname(lib)
        if any((t.rstrip("/") + "/").startswith(folder.rstrip("/") + "/") for t in trees):
            rules.append((lib, landlock.READ_FILE))   # a lib dir above the stdlib (pyenv): that file only
        else:
            lib_dirs.add(folder)
    rules += [(d, landlock.READ) for d in sorted(lib_dirs)] + list(_SYSTEM_FILES)
    return Interpreter(info["executable"], info["version"], info["magic"], tuple(rules), packages)
