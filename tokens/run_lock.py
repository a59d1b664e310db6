"""One run at a time per output folder: OUTPUT/_LOCK.json names the run that owns it.

Created exclusively (O_EXCL locally; on gs:// an upload that only succeeds while the object does not
exist), removed when the run ends. A second run into the same folder refuses, naming the owner (job,
user, host, pid, start time, command).

A lock left by a killed run is stale. When that is certain (written on this host by a process that no
longer exists) the new run says so and takes the folder over, so a rerun after a crash still converges
to a clean run's bytes. When it is not (another host, an unreadable lock) the run refuses and prints
the command that clears the lock: a folder on a shared disk or bucket can be in use from elsewhere.
"""
from __future__ import annotations

import contextlib
import datetime
import getpass
import json
import logging
import os
import socket
import sys
import uuid
from typing import Iterator

from tokens import paths

LOCK_NAME = "_LOCK.json"


class FolderLocked(SystemExit):
    """Another run owns the folder (or left a stale lock); the message says which and what to do.

    A SystemExit: the command lines print the message as their one-line error and exit 1."""


def lock_path(folder: str) -> str:
    return paths.join(folder, LOCK_NAME)


def _owner(job: str, command: str) -> dict:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"job": job, "user": user, "host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "token": uuid.uuid4().hex}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's live process
        return True
    return True


def _create(path: str, data: bytes) -> bool:
    """True if the lock was created by this call, False if one exists."""
    if paths.is_remote(path):
        paths.exists(path)   # applies the emulator settings before gcsfs is imported
        import fsspec
        fs = fsspec.filesystem(path.split("://", 1)[0])
        try:
            with fs.open(path, "xb") as f:   # GCS: ifGenerationMatch=0 (create only)
                f.write(data)
        except FileExistsError:
            return False
        return True
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as e:   # a read-only or full disk: one line naming the lock file
        raise paths.write_error(e, path) from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


def describe_owner(owner: dict) -> str:
    return (f"{owner.get('job', '?')} run by {owner.get('user', '?')}@{owner.get('host', '?')} pid "
            f"{owner.get('pid', '?')}, started {owner.get('started', '?')} ({owner.get('command', '')})")


def _refusal(folder: str, path: str) -> FolderLocked:
    try:
        owner = json.loads(paths.read_bytes(path).decode("utf-8"))
        if not isinstance(owner, dict):
            raise ValueError("not an object")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return FolderLocked(f"{folder} is locked by {path}, which cannot be read ({e}); if no run is writing "
                            f"to {folder}, delete {path} and rerun")
    return FolderLocked(f"{folder} is in use by another run: {describe_owner(owner)}. Wait for it to finish "
                        f"or write to another folder; if that run is gone (killed on another machine), the lock "
                        f"is stale: clear it with `rm {path}`{' (gsutil rm)' if paths.is_remote(path) else ''} "
                        f"and rerun, which replaces that run's partial files")


def _stale_owner(path: str) -> dict | None:
    """The lock's owner when it is certainly dead: written on this host by a pid that no longer exists."""
    try:
        owner = json.loads(paths.read_bytes(path).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if isinstance(owner, dict) and owner.get("host") == socket.gethostname() \
            and isinstance(owner.get("pid"), int) and owner["pid"] != os.getpid() and not _alive(owner["pid"]):
        return owner
    return None


@contextlib.contextmanager
def hold(folder: str, job: str, command: str = "") -> Iterator[dict]:
    """Own `folder` for the duration of the block; raises FolderLocked if another run owns it."""
    path = lock_path(folder)
    owner = _owner(job, command)
    data = (json.dumps(owner, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
    if not _create(path, data):
        stale = _stale_owner(path)
        if stale is None:
            raise _refusal(folder, path)
        logging.getLogger(__name__).warning(
            "%s: taking over the stale lock of a %s that no longer runs (killed?); its partial output there "
            "is replaced", folder, describe_owner(stale))
        print(f"{job}: {folder}: stale lock of {describe_owner(stale)} (no longer running): taking over",
              file=sys.stderr)
        if _stale_owner(path) == stale:   # still the dead run's lock: nobody took it over meanwhile
            paths.delete(path)
        if not _create(path, data):
            raise _refusal(folder, path)
    try:
        yield owner
    finally:
        try:
            current = json.loads(paths.read_bytes(path).decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            current = None
        if isinstance(current, dict) and current.get("token") == owner["token"]:
            paths.delete(path)
