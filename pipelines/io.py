"""Path helpers over Beam's FileSystems, so every stage reads and writes local and gs:// alike.

Only `apache_beam.io.filesystems` is imported (no pipeline machinery): cheap enough for
the tokenizer and mixer to use. Writes are atomic: data goes to a temporary name in the
same directory and is renamed into place, so a reader never sees half a file and a
crashed job leaves no file under the final name.

Local GCS emulator: when STORAGE_EMULATOR_HOST is set (tests, `gcp-storage-emulator`),
google-cloud-storage already sends every request there, but Beam first looks for
Application Default Credentials with retries (~25 s offline) before falling back to an
anonymous client. `configure_gcs_emulator()` records "no credentials" in Beam's
credential cache instead, so Beam builds the anonymous client at once. Each job's `run()`
calls it explicitly (never on import); it does nothing when the variable is unset, so real
GCS keeps real credentials.
"""
from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Callable
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def configure_gcs_emulator() -> bool:
    """Make Beam's GCS client anonymous when an emulator is configured; True if it was."""
    if not os.environ.get(EMULATOR_ENV):
        return False
    try:
        from apache_beam.internal.gcp import auth
    except ImportError:  # Beam without the [gcp] extra: nothing to configure.
        return False
    # Beam caches the credential lookup per process; "looked up, found none" makes
    # gcsio.create_storage_client return storage.Client.create_anonymous_client(),
    # which honours STORAGE_EMULATOR_HOST.
    with auth._Credentials._credentials_lock:
        auth._Credentials._credentials = None
        auth._Credentials._credentials_init = True
    return True



def is_gcs(path: str) -> bool:
    return path.startswith("gs://")


def join(root: str, *parts: str) -> str:
    """Join path parts with the separator of `root`'s filesystem (gs:// uses '/')."""
    if is_gcs(root) or "://" in root:
        out = root
        for part in parts:
            out = out.rstrip("/") + "/" + part.lstrip("/") if part else out
        return out
    return os.path.join(root, *parts)


def match(pattern: str) -> list[str]:
    """Paths matching a glob, sorted (deterministic order); [] when nothing matches.

    `pattern` is a glob: a user's path inside it must go through escape_glob first."""
    results = FileSystems.match([pattern])
    return sorted(m.path for r in results for m in r.metadata_list)


def escape_glob(path: str) -> str:
    """`path` with Beam's glob characters (`*`, `?`, `[`) made literal: `cur[1]` matches only itself.

    Beam's FileSystems.match has no quoting syntax, but a one-character class is literal
    (`[[]` is "[", `[*]` is "*"), in the local and the gs:// filesystem alike."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def list_files(folder: str) -> list[str]:
    """Every object below `folder` (recursive, sorted), the folder name taken literally.

    For gs:// and other object stores; local trees are walked by pipelines.sources.discover,
    which also needs to see symlinks."""
    prefix = folder.rstrip("/") + "/"
    results = FileSystems.match([escape_glob(prefix) + "**"])
    return sorted(m.path for r in results for m in r.metadata_list if not m.path.endswith("/"))


def open_read(path: str) -> BinaryIO:
    """Binary stream of the stored bytes (no transparent decompression: callers decide)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def size(path: str) -> int:
    """Size in bytes of the stored object."""
    results = FileSystems.match([escape_glob(path)])
    metas = results[0].metadata_list if results else []
    if not metas:
        raise FileNotFoundError(path)
    return metas[0].size_in_bytes


def delete(path: str) -> None:
    """Delete one file, the name taken literally; missing files are ignored (idempotent cleanup).

    Beam's gs:// delete matches its argument as a glob (`tok[1]/x` would delete `tok1/x`), so the
    name is escaped there; locally the file is unlinked, and a directory is refused, never removed
    recursively."""
    if "://" not in path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    if FileSystems.exists(path):
        FileSystems.delete([escape_glob(path)])


def list_dir(folder: str) -> list[str]:
    """Names directly under `folder` (files and subfolders), sorted; [] when it does not exist.

    The folder name is literal (no glob expansion): callers keep the names that follow their
    own naming pattern, so a job only ever touches files it wrote itself."""
    if "://" not in folder:
        try:
            return sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
    prefix = folder.rstrip("/") + "/"
    results = FileSystems.match([escape_glob(prefix) + "*"])
    return sorted({m.path[len(prefix):].split("/", 1)[0] for r in results for m in r.metadata_list
                   if m.path.startswith(prefix) and len(m.path) > len(prefix)})


def dirname(path: str) -> str:
    if "://" in path:
        return path.rsplit("/", 1)[0]
    return os.path.dirname(path)


def basename(path: str) -> str:
    return posixpath.basename(path) if "://" in path else os.path.basename(path)


def makedirs(path: str) -> None:
    """Create a local directory (no-op on object stores, where directories do not exist)."""
    if "://" not in path:
        os.makedirs(path, exist_ok=True)


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` via a temporary sibling and a rename; no partial file on failure."""
    publish(path, lambda f: f.write(data))


def temporary_name(path: str) -> str:
    """The hidden sibling `publish` writes first: `.<name>.tmp-<32 hex>` in the same folder."""
    parent = dirname(path)
    name = f".{basename(path)}.tmp-{uuid.uuid4().hex}"
    return join(parent, name) if parent else name


def publish(path: str, write: Callable[[BinaryIO], None]) -> None:
    """`write(stream)` into a temporary sibling of `path`, then rename it to `path` (taken literally).

    Readers see the old file or the complete new one, never a part; on failure no temporary is left
    and an OSError (a full disk) is raised again naming `path`, not the temporary."""
    tmp = temporary_name(path)
    try:
        if dirname(path):
            makedirs(dirname(path))
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            write(f)
        if "://" not in path:
            os.replace(tmp, path)  # atomic on POSIX, and overwrites an existing file
        else:
            # GCS rename is copy + delete; the copy replaces the object in one step,
            # so readers see the old or the new bytes, never a partial object.
            FileSystems.rename([tmp], [path])
    except BaseException as e:
        try:
            delete(tmp)
        except Exception:  # the original error matters more than the cleanup's
            pass
        if isinstance(e, OSError):   # a full disk names the file asked for, not the temporary
            from tokens.paths import write_error
            raise write_error(e, path) from e
        raise
