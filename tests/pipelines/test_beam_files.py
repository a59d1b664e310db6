"""pipelines.beam_files: Beam's glob matching and listing, and the streamed atomic write, locally and on gs://
(the rest of the file API is tokens.paths, which the jobs use alike)."""
import os
import uuid

import pytest

from pipelines import beam_files
from tokens import paths


def test_publish_stream_creates_dirs_overwrites_and_leaves_no_temporary(tmp_path):
    path = paths.join(str(tmp_path), "a", "b", "x.bin")
    beam_files.publish_stream(path, lambda f: f.write(b"one"))
    beam_files.publish_stream(path, lambda f: f.write(b"two"))
    assert open(path, "rb").read() == b"two"
    assert os.listdir(tmp_path / "a" / "b") == ["x.bin"]  # no temp file left behind
    assert paths.size(path) == 3 and paths.exists(path)


def test_publish_stream_failure_keeps_the_old_file_and_names_the_target(tmp_path):
    path = str(tmp_path / "x.bin")
    beam_files.publish_stream(path, lambda f: f.write(b"old"))

    def fail(stream):
        stream.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=f"cannot write {path}: .Errno 28. No space left") as raised:
        beam_files.publish_stream(path, fail)
    assert raised.value.errno == 28
    assert os.listdir(tmp_path) == ["x.bin"] and open(path, "rb").read() == b"old"


def test_match_sorted_and_empty(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert beam_files.match(paths.join(str(tmp_path), "*.jsonl")) == [str(tmp_path / "a.jsonl"),
                                                                     str(tmp_path / "b.jsonl")]
    assert beam_files.match(paths.join(str(tmp_path), "*.parquet")) == []


def test_escape_glob_matches_only_the_literal_name(tmp_path):
    for name in ("cur[1]", "cur1", "cur*"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.parquet").write_bytes(name.encode())
    for name in ("cur[1]", "cur*"):
        literal = beam_files.escape_glob(str(tmp_path / name))
        assert beam_files.match(literal + "/*.parquet") == [str(tmp_path / name / "x.parquet")]


def test_join_keeps_gs_separators():
    assert paths.join("gs://b/raw/", "stack", "*.parquet") == "gs://b/raw/stack/*.parquet"


@pytest.mark.gcs
def test_gcs_roundtrip(gcs_emulator):
    base = f"gs://{gcs_emulator}/io-{uuid.uuid4().hex[:8]}"
    path = paths.join(base, "dir", "x.bin")
    beam_files.publish_stream(path, lambda f: f.write(b"first"))
    paths.write_atomic(path, b"second version")          # the two writers publish the same object
    with paths.open_read(path) as f:
        assert f.read() == b"second version"
    assert paths.exists(path) and paths.size(path) == len(b"second version")
    assert beam_files.match(paths.join(base, "dir", "*")) == [path]  # temp object renamed away
    assert beam_files.list_files(base) == [path]
    paths.delete(path)
    assert not paths.exists(path) and beam_files.match(paths.join(base, "dir", "*")) == []
