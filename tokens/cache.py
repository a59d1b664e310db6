"""A bounded, private local cache of gs:// shards for readers that need local files.

array_record's pip build reads local files only. In production shards are read through a Cloud
Storage FUSE mount and given as local paths (MaxText's convention; trainer/README.md has the mount
and its file-cache flags); this cache keeps a plain gs:// path working without copying the corpus
onto every host: a byte cap with least-recently-used eviction, a 0700 directory owned by this user,
and entries keyed by object path and verified by size, generation and CRC32C (fetched against the
object's metadata; re-hashed once per process before first use, so a damaged entry is refetched).

One ShardCache per directory per process (`shared_cache`); readers register a close callback for
the files they hold open, so evicting an entry closes its readers (lock order: cache, then reader).
Several processes may share a directory (an flock serialises fetch and eviction); the cap then holds
for files on disk, while a file another process still holds open is freed when it closes it.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable

from tokens import paths

DIR_ENV, BYTES_ENV = "CODE_MIXTURES_CACHE", "CODE_MIXTURES_CACHE_BYTES"
DEFAULT_FREE_FRACTION = 0.5     # default cap: half the free space of the cache's file system at start
_CHUNK = 16 << 20


class CacheError(RuntimeError):
    """The cache cannot hold or verify an object; the message names it and the flag to change."""


def parse_bytes(text: str) -> int:
    """'64G', '512M', '1.5T', '1000000' -> bytes (binary suffixes K, M, G, T)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = units.get(text[-1:], 1)
    number = float(text[:-1] if text[-1:] in units else text)
    if number <= 0:
        raise ValueError(f"cache size must be positive, got {text!r}")
    return int(number * scale)


def default_directory() -> str:
    return os.environ.get(DIR_ENV) or os.path.join(tempfile.gettempdir(), f"code-mixtures-cache-{os.getuid()}")


def private_directory(path: str) -> str:
    """Create `path` 0700, or accept it only as a real directory owned by this user (then tightened to 0700):
    a cache others can write to could hand the trainer shards it never fetched."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise CacheError(f"shard cache {path} is not a directory (a symlink or file): set --cache-dir or ${DIR_ENV}")
    if info.st_uid != os.getuid():
        raise CacheError(f"shard cache {path} belongs to uid {info.st_uid}, not to this user ({os.getuid()}): "
                         f"set --cache-dir or ${DIR_ENV} to a directory of your own")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def _crc32c_file(path: str) -> str:
    import google_crc32c

    crc = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc.update(chunk)
    return base64.b64encode(crc.digest()).decode()


class ShardCache:
    """Local copies of remote objects under a byte cap, least recently used evicted first."""

    def __init__(self, directory: str | None = None, max_bytes: int | None = None):
        self.directory = private_directory(directory or default_directory())
        if max_bytes is None:
            env = os.environ.get(BYTES_ENV)
            max_bytes = parse_bytes(env) if env else int(shutil.disk_usage(self.directory).free * DEFAULT_FREE_FRACTION)
        if max_bytes <= 0:
            raise CacheError(f"shard cache cap must be positive, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._lock = threading.RLock()
        self._verified: set[tuple[str, str]] = set()     # (key, generation) hashed by this process
        self._on_evict: dict[str, list[tuple[object, Callable[[], None]]]] = {}
        self.fetches = self.evictions = self.refetches = 0

    # ---- public -----------------------------------------------------------------------------
    def local_path(self, path: str, owner: object = None, on_evict: Callable[[], None] | None = None,
                   crc32c: str | None = None) -> str:
        """A verified local copy of `path` (a local path is returned as it is). `on_evict` is called (under the
        cache lock) if the copy is later evicted: `owner` closes what it holds open. Entries an owner holds are
        evicted after the others. `crc32c` (8 hex digits, the manifest's) must match the copy's CRC32C:
        the object's own checksum proves the copy intact, this one that it is the object tokenize wrote."""
        if not paths.is_remote(path):
            return path
        key = hashlib.sha256(path.encode("utf-8")).hexdigest()[:32]
        with self._lock, self._flock():
            remote = paths.object_info(path)
            data, meta = self._data(key), self._read_meta(key)
            if meta is not None and not self._valid(key, data, meta, path, remote):
                self.refetches += 1
                self._drop(key)
                meta = None
            if meta is None:
                meta = self._fetch(key, path, remote)
            if crc32c is not None:
                have = meta.get("crc32c")
                if have != base64.b64encode(bytes.fromhex(crc32c)).decode():
                    have_hex = base64.b64decode(have).hex() if have else None
                    self._drop(key)   # not the object tokenize wrote: no room taken by it
                    raise CacheError(f"{path}: the fetched file has crc32c {have_hex}, the manifest says {crc32c} "
                                     "(changed after tokenize)")
            os.utime(data)                               # last use, for LRU order (survives restarts)
            if on_evict is not None:
                self._on_evict.setdefault(key, []).append((owner, on_evict))
            return data

    def release(self, owner: object) -> None:
        """Forget `owner`'s eviction callbacks (it closed its readers)."""
        with self._lock:
            for key in list(self._on_evict):
                kept = [(o, f) for o, f in self._on_evict[key] if o is not owner]
                if kept:
                    self._on_evict[key] = kept
                else:
                    del self._on_evict[key]

    def used_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    # ---- entries ----------------------------------------------------------------------------
    def _data(self, key: str) -> str:
        return os.path.join(self.directory, key + ".data")

    def _meta(self, key: str) -> str:
        return os.path.join(self.directory, key + ".json")

    def _read_meta(self, key: str) -> dict | None:
        try:
            with open(self._meta(key), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _entries(self) -> list[tuple[float, int, str]]:
        """(last use, size, key) of every complete entry on disk."""
        out = []
        for name in os.listdir(self.directory):
            if name.endswith(".data"):
                try:
                    info = os.stat(os.path.join(self.directory, name))
                except FileNotFoundError:
                    continue
                out.append((info.st_mtime, info.st_size, name[:-5]))
        return out

    def _valid(self, key: str, data: str, meta: dict, path: str, remote: dict) -> bool:
        """Same object (path, size, generation/CRC32C) and intact bytes (size always, CRC32C once per process)."""
        if meta.get("path") != path or meta.get("size") != remote["size"]:
            return False
        for field in ("generation", "crc32c"):
            if remote.get(field) and meta.get(field) != remote[field]:
                return False
        try:
            if os.path.getsize(data) != meta["size"]:
                return False
        except OSError:
            return False
        token = (key, str(meta.get("generation")))
        if token not in self._verified:
            if meta.get("crc32c") and _crc32c_file(data) != meta["crc32c"]:
                return False
            self._verified.add(token)
        return True

    def _fetch(self, key: str, path: str, remote: dict) -> dict:
        """Download `path` into the entry `key`, verified against the object; returns the entry's metadata."""
        size = int(remote["size"])
        if size > self.max_bytes:
            raise CacheError(f"{path} is {size:,} bytes, more than the shard cache cap {self.max_bytes:,}: "
                             f"raise --cache-bytes (${BYTES_ENV}) or read shards through a FUSE mount")
        self._evict_for(size, keep=key)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".fetch-")
        os.close(fd)
        try:
            paths.download(path, tmp)
            got, digest = os.path.getsize(tmp), _crc32c_file(tmp)
            if got != size or (remote.get("crc32c") and digest != remote["crc32c"]):
                raise CacheError(f"{path}: fetched {got:,} bytes with CRC32C {digest}, the object has {size:,} "
                                 f"bytes and CRC32C {remote.get('crc32c')} (changed while reading, or damaged)")
            os.replace(tmp, self._data(key))
            meta = {"path": path, "size": size, "generation": remote.get("generation"), "crc32c": digest}
            paths.write_atomic(self._meta(key), json.dumps(meta, sort_keys=True, allow_nan=False).encode())
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._verified.add((key, str(remote.get("generation"))))
        self.fetches += 1
        return meta

    def _evict_for(self, size: int, keep: str) -> None:
        """Drop entries until `size` more bytes fit: first those no reader of this process holds, each group
        least recently used first."""
        entries = sorted((key in self._on_evict, used_at, entry_size, key)
                         for used_at, entry_size, key in self._entries() if key != keep)
        used = sum(e[2] for e in entries)
        for _, _, entry_size, key in entries:
            if used + size <= self.max_bytes:
                break
            self._drop(key)
            self.evictions += 1
            used -= entry_size

    def _drop(self, key: str) -> None:
        for _, callback in self._on_evict.pop(key, []):
            callback()
        for name in (self._meta(key), self._data(key)):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        self._verified = {t for t in self._verified if t[0] != key}

    def _flock(self):
        return _FileLock(os.path.join(self.directory, ".lock"))


class _FileLock:
    """Exclusive flock on a lock file: processes sharing a cache directory fetch and evict one at a time."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


_SHARED: dict[str, ShardCache] = {}
_SHARED_LOCK = threading.Lock()
_DEFAULTS: dict[str, object] = {"directory": None, "max_bytes": None}


def configure(directory: str | None = None, max_bytes: int | None = None) -> None:
    """Process-wide defaults for shared_cache() (the trainer's --cache-dir / --cache-bytes)."""
    _DEFAULTS.update(directory=directory, max_bytes=max_bytes)


def shared_cache(directory: str | None = None) -> ShardCache:
    """The process's one ShardCache for `directory` (default: configure(), ${DIR_ENV}, or a per-user temp dir)."""
    directory = os.path.abspath(directory or _DEFAULTS["directory"] or default_directory())
    with _SHARED_LOCK:
        cache = _SHARED.get(directory)
        if cache is None:
            cache = _SHARED[directory] = ShardCache(directory, _DEFAULTS["max_bytes"])
        return cache
