"""One path abstraction for everything outside the Beam jobs: local files and gs:// objects.

Local paths use the os module directly; gs:// goes through `etils.epath` (the layer Orbax
already uses for checkpoints) on gcsfs. The Beam jobs keep Beam's FileSystems
(pipelines/io.py); the mixer, the trainer and the token format read and write through
here, so none of them imports Beam.

Paths are literal: nothing here expands glob characters (`[`, `*`, `?`), and listing a
directory returns the names it holds, which callers filter by their own naming pattern.
Writes are atomic: a local file appears under its final name only complete (temporary
sibling + rename); a gs:// object becomes visible only when its upload completes.

Local GCS emulator (tests, `gcp-storage-emulator`): when STORAGE_EMULATOR_HOST is set,
gcsfs sends requests there; `_remote` then also makes the client anonymous and skips
the bucket-layout probe the emulator does not implement. Nothing happens at import.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Callable
from typing import BinaryIO

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def is_remote(path: str) -> bool:
    return "://" in path


def join(directory: str, *names: str) -> str:
    """`directory`/name/...; '/' separators on object stores, os.path.join locally."""
    if not directory:
        return posixpath.join(*names) if names else directory
    if is_remote(directory):
        out = directory
        for name in names:
            if name:
                out = out.rstrip("/") + "/" + name.lstrip("/")
        return out
    return os.path.join(directory, *names)


def dirname(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0] if is_remote(path) else os.path.dirname(path)


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if is_remote(path) else os.path.basename(path)


def _emulator_settings() -> None:
    """Under STORAGE_EMULATOR_HOST: anonymous gcsfs, no bucket-layout probe (the emulator has no such API).
    Must precede the first gcsfs import."""
    if os.environ.get(EMULATOR_ENV):
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        import fsspec.config

        for protocol in ("gs", "gcs"):
            fsspec.config.conf.setdefault(protocol, {}).setdefault("token", "anon")


def _remote(path: str):
    """epath.Path for a gs:// (or other fsspec) path; emulator settings applied first."""
    _emulator_settings()
    from etils import epath

    return epath.Path(path)


def open_read(path: str) -> BinaryIO:
    """Binary stream of the stored bytes (no transparent decompression)."""
    return _remote(path).open("rb") if is_remote(path) else open(path, "rb")


def download(path: str, local: str) -> None:
    """Copy `path` to the local file `local` in one streamed request (gs://: gcsfs get_file, no readahead)."""
    if not is_remote(path):
        shutil.copyfile(path, local)
        return
    _emulator_settings()
    import fsspec

    fsspec.filesystem(path.split("://", 1)[0]).get_file(path, local)


def read_bytes(path: str) -> bytes:
    with open_read(path) as f:
        return f.read()


def exists(path: str) -> bool:
    return _remote(path).exists() if is_remote(path) else os.path.exists(path)


def size(path: str) -> int:
    """Size in bytes; FileNotFoundError when missing."""
    if is_remote(path):
        remote = _remote(path)
        if not remote.exists():
            raise FileNotFoundError(path)
        return remote.stat().length
    return os.path.getsize(path)


def object_info(path: str) -> dict:
    """{"size", "generation", "crc32c"} of a remote object, read fresh (no listing cache); generation and
    crc32c (base64, as GCS reports it) are None where the store has none. FileNotFoundError when missing."""
    if not is_remote(path):
        return {"size": os.path.getsize(path), "generation": None, "crc32c": None}
    _emulator_settings()
    import fsspec

    protocol = path.split("://", 1)[0]
    fs = fsspec.filesystem(protocol)
    fs.invalidate_cache(path)
    info = fs.info(path)
    if info.get("type") == "directory":
        raise FileNotFoundError(path)
    return {"size": int(info["size"]), "generation": info.get("generation"), "crc32c": info.get("crc32c")}


def list_dir(directory: str) -> list[str]:
    """Names of the entries directly under `directory`, sorted; [] when it does not exist."""
    if is_remote(directory):
        remote = _remote(directory)
        return sorted(p.name for p in remote.iterdir()) if remote.exists() else []
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


def makedirs(path: str) -> None:
    """Create a local directory; object stores have none to create."""
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)


def delete(path: str) -> None:
    """Delete one file; a missing file is not an error (idempotent cleanup)."""
    if is_remote(path):
        remote = _remote(path)
        if remote.exists():
            remote.unlink()
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def publish(path: str, write: Callable[[str], None]) -> None:
    """`write(local_temporary_path)`, then move the result to `path` atomically.

    Local: the temporary is a hidden sibling, renamed into place. Remote: the temporary is a
    local file streamed to the final object name (visible only once the upload completes).
    A failure leaves no file under the final name and no temporary behind."""
    if is_remote(path):
        fd, tmp = tempfile.mkstemp(prefix=".publish-", suffix=os.path.splitext(path)[1])
        os.close(fd)
    else:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        write(tmp)
        if is_remote(path):
            with open(tmp, "rb") as src, _remote(path).open("wb") as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old bytes or the new, never a part."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"write_atomic needs bytes, got {type(data).__name__}")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    publish(path, write)
