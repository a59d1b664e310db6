import os
import uuid

import pytest

from pipelines import io


def test_write_atomic_local_creates_dirs_and_overwrites(tmp_path):
    path = io.join(str(tmp_path), "a", "b", "x.bin")
    io.write_atomic(path, b"one")
    io.write_atomic(path, b"two")
    assert open(path, "rb").read() == b"two"
    assert os.listdir(tmp_path / "a" / "b") == ["x.bin"]  # no temp file left behind
    assert io.size(path) == 3 and io.exists(path)


def test_write_atomic_failure_leaves_nothing(tmp_path):
    path = str(tmp_path / "x.bin")
    with pytest.raises(TypeError):
        io.write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_match_sorted_and_empty(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert io.match(io.join(str(tmp_path), "*.jsonl")) == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    assert io.match(io.join(str(tmp_path), "*.parquet")) == []


def test_open_read_does_not_decompress(tmp_path):
    import gzip
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b"hello"))
    with io.open_read(str(path)) as f:
        assert f.read() == path.read_bytes()


def test_delete_is_idempotent(tmp_path):
    path = str(tmp_path / "x")
    io.write_atomic(path, b"1")
    io.delete(path)
    io.delete(path)
    assert not io.exists(path)
    with pytest.raises(FileNotFoundError):
        io.size(path)


def test_join_keeps_gs_separators():
    assert io.join("gs://b/raw/", "stack", "*.parquet") == "gs://b/raw/stack/*.parquet"


@pytest.mark.gcs
def test_gcs_roundtrip(gcs_emulator):
    base = f"gs://{gcs_emulator}/io-{uuid.uuid4().hex[:8]}"
    path = io.join(base, "dir", "x.bin")
    io.write_atomic(path, b"first")
    io.write_atomic(path, b"second version")
    with io.open_read(path) as f:
        assert f.read() == b"second version"
    assert io.exists(path) and io.size(path) == len(b"second version")
    assert io.match(io.join(base, "dir", "*")) == [path]  # temp object renamed away
    io.delete(path)
    assert not io.exists(path) and io.match(io.join(base, "dir", "*")) == []
