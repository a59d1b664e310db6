"""tokens/cache.py against a real GCS API (gcp-storage-emulator): cap, LRU, verification, private directory."""
import os
import uuid

import numpy as np
import pytest

from tokens import cache as cache_lib
from tokens import paths
from tokens.source import TokenizedSource

pytestmark = pytest.mark.gcs


@pytest.fixture
def objects(gcs_emulator):
    """Three 1000-byte objects under a fresh prefix."""
    base = f"gs://{gcs_emulator}/cache-{uuid.uuid4().hex[:8]}"
    names = {}
    for name in "abc":
        names[name] = f"{base}/{name}.bin"
        paths.write_atomic(names[name], bytes([ord(name)]) * 1000)
    return names


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_lru_eviction_keeps_the_cap(objects, tmp_path):
    cache = cache_lib.ShardCache(str(tmp_path / "c"), max_bytes=2500)
    a = cache.local_path(objects["a"])
    cache.local_path(objects["b"])
    os.utime(a, (1, 1))                      # a is the least recently used
    cache.local_path(objects["c"])
    assert cache.evictions == 1 and not os.path.exists(a)
    assert cache.used_bytes() == 2000 <= cache.max_bytes
    again = cache.local_path(objects["a"])   # comes back: a fetch, and b (now the oldest) goes
    assert _read(again) == b"a" * 1000 and cache.fetches == 4 and cache.evictions == 2
    assert sorted(_read(p)[:1] for p in (cache.local_path(objects["c"]), again)) == [b"a", b"c"]


def test_entries_held_open_are_evicted_last_and_their_readers_closed(objects, tmp_path):
    cache = cache_lib.ShardCache(str(tmp_path / "c"), max_bytes=2500)
    closed = []
    held = cache.local_path(objects["a"], owner="reader", on_evict=lambda: closed.append("a"))
    free = cache.local_path(objects["b"])
    os.utime(free, (2, 2))
    os.utime(held, (1, 1))                   # older, but held by a reader
    cache.local_path(objects["c"])
    assert os.path.exists(held) and not os.path.exists(free) and closed == []
    cache.release("reader")
    cache.local_path(objects["b"])           # now a is just the oldest entry
    assert not os.path.exists(held) and closed == []   # released: no callback left to call


def test_corrupted_entry_is_detected_and_refetched(objects, tmp_path):
    directory = str(tmp_path / "c")
    local = cache_lib.ShardCache(directory, max_bytes=10_000).local_path(objects["a"])
    with open(local, "r+b") as f:            # same size, one byte flipped
        f.seek(500)
        f.write(b"X")
    fresh = cache_lib.ShardCache(directory, max_bytes=10_000)      # a new process: entries re-hashed once
    assert _read(fresh.local_path(objects["a"])) == b"a" * 1000
    assert fresh.refetches == 1 and fresh.fetches == 1
    with open(local, "ab") as f:             # truncated/extended entries fail the size check at every use
        f.write(b"tail")
    assert _read(fresh.local_path(objects["a"])) == b"a" * 1000 and fresh.refetches == 2


def test_a_rewritten_object_is_refetched(objects, tmp_path):
    cache = cache_lib.ShardCache(str(tmp_path / "c"), max_bytes=10_000)
    assert _read(cache.local_path(objects["a"])) == b"a" * 1000
    paths.write_atomic(objects["a"], b"A" * 1000)   # same size, new generation and CRC32C
    assert _read(cache.local_path(objects["a"])) == b"A" * 1000 and cache.refetches == 1


def test_an_object_larger_than_the_cap_is_refused_naming_the_flag(objects, tmp_path):
    cache = cache_lib.ShardCache(str(tmp_path / "c"), max_bytes=999)
    with pytest.raises(cache_lib.CacheError, match="--cache-bytes"):
        cache.local_path(objects["a"])
    assert not [n for n in os.listdir(tmp_path / "c") if n.endswith(".data") or n.startswith(".fetch-")]


def test_private_directory(tmp_path):
    made = cache_lib.private_directory(str(tmp_path / "new"))
    assert os.stat(made).st_mode & 0o777 == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    cache_lib.private_directory(str(loose))
    assert os.stat(loose).st_mode & 0o777 == 0o700      # ours: tightened
    link = tmp_path / "link"
    link.symlink_to(made)
    with pytest.raises(cache_lib.CacheError, match="not a directory"):
        cache_lib.private_directory(str(link))
    other = tmp_path / "other"
    other.mkdir()
    if os.getuid() == 0:
        os.chown(other, 65534, 65534)                      # CI runs as root: hand it to nobody
    else:
        other = tmp_path.parent / ".." / ".."              # production: a directory root owns
        other = other.resolve()
        if os.stat(other).st_uid == os.getuid():
            pytest.skip("no directory owned by another user to test with")
    with pytest.raises(cache_lib.CacheError, match="belongs to uid"):
        cache_lib.private_directory(str(other))


def test_parse_bytes():
    assert cache_lib.parse_bytes("64G") == 64 << 30
    assert cache_lib.parse_bytes("1.5TiB") == int(1.5 * (1 << 40))
    assert cache_lib.parse_bytes("4096") == 4096
    with pytest.raises(ValueError):
        cache_lib.parse_bytes("-1G")


def test_tokenized_source_reads_through_a_cache_smaller_than_the_source(gcs_emulator, tmp_path):
    from tests.trainer.corpus import write_source

    rng = np.random.default_rng(0)
    docs = [np.append(rng.integers(3, 60, int(rng.integers(5, 400))), 2).tolist() for _ in range(60)]
    manifest = write_source(str(tmp_path / "tokens"), "code", docs, shards=4)
    base = f"gs://{gcs_emulator}/src-{uuid.uuid4().hex[:8]}/code"
    local_dir = os.path.dirname(manifest)
    for name in os.listdir(local_dir):
        paths.write_atomic(f"{base}/{name}", _read(os.path.join(local_dir, name)))
    largest = max(os.path.getsize(os.path.join(local_dir, n)) for n in os.listdir(local_dir)
                  if n.endswith(".array_record"))
    directory = str(tmp_path / "cache")
    cache_lib._SHARED[os.path.abspath(directory)] = cache_lib.ShardCache(directory, max_bytes=2 * largest + 100)
    try:
        with TokenizedSource.open(f"{base}/manifest.json", verify=False, cache_dir=directory) as src:
            order = np.random.default_rng(1).permutation(60).tolist() * 2    # every shard, twice, at random
            assert [src[i].tolist() for i in order] == [docs[i] for i in order]
            cache = cache_lib._SHARED[os.path.abspath(directory)]
            assert cache.evictions > 0 and cache.used_bytes() <= cache.max_bytes
            assert sum(r is not None for r in src._readers) <= 2   # evicted shards' readers were closed
    finally:
        cache_lib._SHARED.pop(os.path.abspath(directory), None)
