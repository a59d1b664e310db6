"""What only Beam's FileSystems does for the jobs: glob matching, listing object stores, streamed writes.

Every other file operation (join, exists, open_read, list_dir, delete, write_atomic, ...) is
tokens.paths, the project's one file API. This module keeps the parts that need Beam: matching a
glob (and quoting a user's path inside one, since Beam has no quoting syntax), listing a gs://
folder recursively, and a streamed atomic write through FileSystems.create, which a DoFn uses to
write a Parquet shard straight to its store. Only `apache_beam.io.filesystems` is imported (no
pipeline machinery).

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
import uuid
from collections.abc import Callable
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tokens import paths
from tokens.paths import EMULATOR_ENV


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


def temporary_name(path: str) -> str:
    """The hidden sibling `publish_stream` writes first: `.<name>.tmp-<32 hex>` in the same folder."""
    parent = paths.dirname(path)
    name = f".{paths.basename(path)}.tmp-{uuid.uuid4().hex}"
    return paths.join(parent, name) if parent else name


def publish_stream(path: str, write: Callable[[BinaryIO], None]) -> None:
    """`write(stream)` into a temporary sibling of `path` opened by Beam's FileSystems.create, then
    rename it to `path` (taken literally).

    Readers see the old file or the complete new one, never a part; on failure no temporary is left
    and an OSError (a full disk) is raised again naming `path`, not the temporary. (tokens.paths.publish
    stages a gs:// object in a local file first; this streams it.)"""
    tmp = temporary_name(path)
    try:
        if paths.dirname(path):
            paths.makedirs(paths.dirname(path))
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            write(f)
        if not paths.is_remote(path):
            os.replace(tmp, path)  # atomic on POSIX, and overwrites an existing file
        else:
            # GCS rename is copy + delete; the copy replaces the object in one step,
            # so readers see the old or the new bytes, never a partial object.
            FileSystems.rename([tmp], [path])
    except BaseException as e:
        try:
            paths.delete(tmp)
        except Exception:  # the original error matters more than the cleanup's
            pass
        if isinstance(e, OSError):   # a full disk names the file asked for, not the temporary
            raise paths.write_error(e, path) from e
        raise
