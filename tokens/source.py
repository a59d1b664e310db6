"""`TokenizedSource`: random access over one source's shards, trusting nothing it has not checked.

Shard record counts and sizes are checked against the manifest on open, sidecars against their
CRC32C whenever they are read, gs:// shards against theirs when fetched into the bounded cache
(tokens.cache), and every decoded record is validated, so a corrupt record is an error naming the
shard and record index, never garbage handed to the trainer (policy: tokens.manifest docstring).
`lengths()` gives every document's token count from the shards' lengths sidecars (tokens.lengths)
without reading records.
"""
from __future__ import annotations

import bisect
import logging
import os
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from tokens import checksums
from tokens import lengths as lengths_sidecar
from tokens import paths
from tokens.cache import shared_cache
from tokens.manifest import Manifest, ManifestError, load_manifest
from tokens.records import CorruptRecordError, decode_checked, decode_example

# Random access: no readahead, no background threads (array_record's documented setting).
RANDOM_ACCESS_OPTIONS = "readahead_buffer_size:0,max_parallelism:0"


def _close_quietly(reader) -> None:
    """Closing a reader on a damaged file raises again; the first error is the one to report."""
    if reader is None:
        return
    try:
        reader.close()
    except Exception:
        pass


_WARNED: set[str] = set()


def _warn_unchecksummed(manifest: Manifest) -> None:
    where = manifest.location or manifest.source
    if where not in _WARNED:
        _WARNED.add(where)
        logging.getLogger(__name__).warning(
            "%s: manifest has no checksums (written before they were recorded): its shards and sidecars "
            "cannot be verified; re-tokenize to add them", where)


class TokenizedSource:
    """Random access over one source's shards: item i is document i in shard order."""

    def __init__(self, manifest: Manifest, cache_dir: str | None = None):
        self.manifest = manifest
        self._paths = manifest.shard_paths
        self._cache_dir = cache_dir          # gs:// shards: tokens.cache (None: its configured default)
        self._offsets = np.cumsum([0] + [s.documents for s in manifest.shards]).tolist()
        self._documents = manifest.documents
        self._readers: list = [None] * len(self._paths)
        self._lock = threading.RLock()       # re-entrant: a cache eviction closes readers through it
        self._lengths: np.ndarray | None = None

    @classmethod
    def open(cls, manifest_path: str, verify: bool = True,
             cache_dir: str | None = None) -> "TokenizedSource":
        """Load and validate the manifest; with verify, open every shard and check its record count, and load
        the lengths sidecars (count and sum against the manifest; skipped for manifests without sidecars)."""
        source = cls(load_manifest(manifest_path), cache_dir)
        if not source.manifest.checksummed:
            _warn_unchecksummed(source.manifest)
        if verify:
            source.check_shards(range(len(source._paths)))
            if None not in source.manifest.lengths_paths:
                source.lengths()
        return source

    def check_shards(self, shards: Iterable[int]) -> None:
        """Open these shards now and check their record counts against the manifest (ManifestError naming the
        shard): a host checks the shards it will read at start, not mid-run."""
        for shard in shards:
            self._open(shard)

    def _local(self, path: str, shard: int | None = None, crc32c: str | None = None) -> str:
        """`path` itself when local; a verified copy from the bounded shard cache for gs:// (tokens.cache),
        whose CRC32C must also be the manifest's `crc32c` when given."""
        if not paths.is_remote(path):
            return path
        on_evict = None if shard is None else (lambda: self._evicted(shard))
        return shared_cache(self._cache_dir).local_path(path, owner=self, on_evict=on_evict, crc32c=crc32c)

    def _evicted(self, shard: int) -> None:
        with self._lock:
            _close_quietly(self._readers[shard])
            self._readers[shard] = None

    def lengths(self) -> np.ndarray:
        """Tokens of every document (read-only uint32, shard order), loaded once from the lengths sidecars
        (gs:// ones through the shard cache); each is checked against its manifest entry (count =
        documents, sum = tokens; ManifestError naming the file). A manifest without sidecars (written before
        them) falls back to decoding every record of those shards: correct, but as slow as reading them."""
        if self._lengths is None:
            parts = [self._shard_lengths(shard) for shard in range(len(self._paths))]
            values = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
            values.flags.writeable = False
            self._lengths = values
        return self._lengths

    def length(self, i: int) -> int:
        """Tokens of document i (from lengths())."""
        shard, index = self._locate(int(i))
        return int(self.lengths()[self._offsets[shard] + index])

    def shard_lengths(self, shard: int) -> np.ndarray:
        """Tokens of every document of one shard (uint32; checked like lengths()), without loading the others."""
        if self._lengths is not None:
            return self._lengths[self._offsets[shard]:self._offsets[shard + 1]]
        return self._shard_lengths(shard)

    def _shard_lengths(self, shard: int) -> np.ndarray:
        meta, sidecar = self.manifest.shards[shard], self.manifest.lengths_paths[shard]
        if sidecar is None:  # older manifest: decode the records
            sizes = np.zeros(meta.documents, np.uint32)
            for begin in range(0, meta.documents, 1024):
                idx = list(range(begin, min(begin + 1024, meta.documents)))
                for index, record in zip(idx, self._read(shard, idx)):
                    sizes[index] = self._checked(record, shard, index).size
            return lengths_sidecar.check(sizes, self._paths[shard], meta.documents, meta.tokens)
        try:
            with open(self._local(sidecar), "rb") as f:
                data = f.read()
        except Exception as e:  # missing sidecar, unreadable object
            raise ManifestError(f"{sidecar}: cannot read lengths sidecar ({type(e).__name__}: {e})") from None
        problem = checksums.mismatch(sidecar, "the lengths sidecar", checksums.of_bytes(data), None,
                                     meta.lengths_crc32c)
        if problem:
            raise ManifestError(problem)
        return lengths_sidecar.check(lengths_sidecar.decode(data, sidecar), sidecar, meta.documents, meta.tokens)

    @property
    def source(self) -> str:
        return self.manifest.source

    @property
    def tokens(self) -> int:
        return self.manifest.tokens

    @property
    def vocab_size(self) -> int:
        return self.manifest.vocab_size

    @property
    def shard_paths(self) -> list[str]:
        return list(self._paths)

    def __len__(self) -> int:
        return self.manifest.documents

    def _open(self, shard: int):
        """The shard's reader, opened (and its record count checked) on first use. A gs:// shard is fetched
        into the cache before the lock is taken: an eviction that closes readers takes the lock after the
        cache's, so this never holds ours while waiting for the cache."""
        reader = self._readers[shard]
        if reader is not None:
            return reader
        path, meta = self._paths[shard], self.manifest.shards[shard]
        try:
            local = self._local(path, shard, meta.crc32c)
        except Exception as e:  # missing object, cache refusing it, CRC32C not the manifest's: name the shard
            raise ManifestError(f"{path}: cannot fetch shard ({type(e).__name__}: {e})") from None
        try:
            size = os.path.getsize(local)
        except OSError:
            size = None   # missing: the reader below says so
        if meta.bytes is not None and size is not None and size != meta.bytes:
            raise ManifestError(f"{path}: shard is {size} bytes, the manifest says {meta.bytes} "
                                "(changed or truncated after tokenize)")
        with self._lock:
            if self._readers[shard] is None:
                self._readers[shard] = self._open_checked(shard, local)
            return self._readers[shard]

    def _open_checked(self, shard: int, local: str):
        from array_record.python.array_record_module import ArrayRecordReader

        path, reader = self._paths[shard], None
        try:
            reader = ArrayRecordReader(local, RANDOM_ACCESS_OPTIONS)
            count = reader.num_records()
            if not reader.ok():
                reader.close()   # raises riegeli's status: the reason worth reporting
                raise RuntimeError("reader failed without a status")
        except Exception as e:  # missing file, damaged footer/index: riegeli says which
            _close_quietly(reader)
            raise ManifestError(f"{path}: cannot open shard ({type(e).__name__}: {e})") from None
        expected = self.manifest.shards[shard].documents
        if count != expected:
            _close_quietly(reader)
            raise ManifestError(f"{path}: shard holds {count} records, manifest says {expected}")
        return reader

    def _locate(self, i: int) -> tuple[int, int]:
        n = self._documents
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"document {i} out of range for {self.source} ({n} documents)")
        shard = bisect.bisect_right(self._offsets, i) - 1
        return shard, i - self._offsets[shard]

    def _read(self, shard: int, indices: list[int]) -> list[bytes]:
        for _ in range(3):        # a cache eviction by another thread may close the reader in between
            if self._readers[shard] is None:
                self._open(shard)
            with self._lock:
                reader = self._readers[shard]
                if reader is None:
                    continue
                try:
                    return reader.read(indices)
                except Exception as e:
                    raise CorruptRecordError(
                        f"{self._paths[shard]}: cannot read record {self._first_bad(reader, indices)} "
                        f"({type(e).__name__}: {e})") from None
        raise ManifestError(f"{self._paths[shard]}: evicted from the shard cache while being read, three times "
                            "in a row: raise --cache-bytes")

    @staticmethod
    def _first_bad(reader, indices: list[int]) -> int:
        """A batch read fails as a whole; find the record that broke it."""
        for index in indices:
            try:
                reader.read([index])
            except Exception:
                return index
        return indices[0]

    def _checked(self, record: bytes, shard: int, index: int) -> np.ndarray:
        """Decoded ids, non-empty and below vocab_size (the decoder's maximum: no second pass); errors name
        shard and record."""
        try:
            ids, top = decode_checked(record)
        except CorruptRecordError as e:
            raise CorruptRecordError(f"{self._paths[shard]}: record {index}: {e}") from None
        if ids.size == 0 or top >= self.vocab_size:
            raise CorruptRecordError(
                f"{self._paths[shard]}: record {index}: "
                + ("empty token list" if ids.size == 0 else f"token id {top} >= vocab_size {self.vocab_size}"))
        return ids

    def __getitem__(self, i: int) -> np.ndarray:
        shard, index = self._locate(int(i))
        return self._checked(self._read(shard, [index])[0], shard, index)

    def get_many(self, indices: Iterable[int]) -> list[np.ndarray]:
        """Batch read: one reader call per shard touched, results in the order asked."""
        located = [self._locate(int(i)) for i in indices]
        by_shard: dict[int, list[int]] = {}
        for shard, index in located:
            by_shard.setdefault(shard, []).append(index)
        fetched = {}
        for shard, idx in by_shard.items():
            for index, record in zip(idx, self._read(shard, idx)):
                fetched[(shard, index)] = self._checked(record, shard, index)
        return [fetched[key] for key in located]

    def iter_source(self, chunk: int = 1024) -> Iterator[np.ndarray]:
        """Every document in shard order (sequential reads in chunks)."""
        for shard, meta in enumerate(self.manifest.shards):
            for begin in range(0, meta.documents, chunk):
                idx = list(range(begin, min(begin + chunk, meta.documents)))
                for index, record in zip(idx, self._read(shard, idx)):
                    yield self._checked(record, shard, index)

    def verify_tokens(self) -> int:
        """Read every record: ids in vocab, EOS last, source tag and per-shard totals as the manifest says."""
        eos = int(self.manifest.tokenizer["eos_id"])
        total = 0
        for shard, meta in enumerate(self.manifest.shards):
            path, shard_tokens = self._paths[shard], 0
            for begin in range(0, meta.documents, 1024):
                idx = list(range(begin, min(begin + 1024, meta.documents)))
                for index, record in zip(idx, self._read(shard, idx)):
                    ids = self._checked(record, shard, index)
                    tag = decode_example(record)[1]
                    if tag != self.source:
                        raise CorruptRecordError(f"{path}: record {index}: source {tag!r}, expected {self.source!r}")
                    if int(ids[-1]) != eos:
                        raise CorruptRecordError(f"{path}: record {index}: does not end with EOS {eos}")
                    shard_tokens += ids.size
            if shard_tokens != meta.tokens:
                raise ManifestError(f"{path}: holds {shard_tokens} tokens, manifest says {meta.tokens}")
            total += shard_tokens
        return total

    def verify_checksums(self) -> int:
        """Read every shard and sidecar whole and compare size and CRC32C with the manifest (ManifestError
        naming the file). Returns the bytes checked; 0 for a manifest written before checksums."""
        checked = 0
        for shard, meta in enumerate(self.manifest.shards):
            if meta.crc32c is None:
                continue
            path = self._paths[shard]
            try:
                have = checksums.of_file(self._local(path, shard, meta.crc32c))
            except ManifestError:
                raise
            except Exception as e:  # missing or unreadable shard
                raise ManifestError(f"{path}: cannot read shard ({type(e).__name__}: {e})") from None
            problem = checksums.mismatch(path, "shard", have, meta.bytes, meta.crc32c)
            if problem:
                raise ManifestError(problem)
            checked += have.size
            if meta.lengths is not None:
                self._shard_lengths(shard)
                checked += 4 * meta.documents
        return checked

    def close(self) -> None:
        with self._lock:
            for i, reader in enumerate(self._readers):
                _close_quietly(reader)
                self._readers[i] = None
        if any(paths.is_remote(p) for p in self._paths):
            shared_cache(self._cache_dir).release(self)

    def __enter__(self) -> "TokenizedSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
