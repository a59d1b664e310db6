"""tokens/completion.py: the record a finished run writes last, and what the next stage checks."""
import json

import pytest

from tokens import completion
from tokens.manifest import Manifest, Shard


def _folder(tmp_path, files: dict[str, bytes]):
    for rel, data in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return tmp_path


def test_a_written_record_is_complete_until_a_listed_file_changes(tmp_path):
    out = _folder(tmp_path, {"kept/a/part-00000-of-00002.parquet": b"x" * 5,
                             "kept/a/part-00001-of-00002.parquet": b"y" * 7, "report.md": b"r"})
    completion.write_record(str(out), "curate", {"kept/a/part-00000-of-00002.parquet": 3,
                                                 "kept/a/part-00001-of-00002.parquet": 4, "report.md": None})
    record = completion.require_complete(str(out), "curate")
    assert record["files"]["kept/a/part-00001-of-00002.parquet"] == {"bytes": 7, "rows": 4}
    (out / "kept/a/part-00001-of-00002.parquet").write_bytes(b"y" * 6)
    with pytest.raises(completion.IncompleteInput, match=r"part-00001-of-00002.parquet \(6 bytes, the record says 7\)"):
        completion.require_complete(str(out), "curate")
    with pytest.raises(completion.IncompleteInput, match="written by 'curate', not tokenize"):
        completion.require_complete(str(out), "tokenize")


def test_no_record_means_an_unfinished_run(tmp_path):
    with pytest.raises(completion.IncompleteInput, match="has no _COMPLETE.json: the curate run .* did not finish"):
        completion.require_complete(str(tmp_path), "curate")
    assert isinstance(completion.IncompleteInput("x"), SystemExit)   # CLIs print it as their one-line error


def test_a_record_listing_part_of_a_shard_set_names_the_absent_parts(tmp_path):
    out = _folder(tmp_path, {"kept/a/part-00000-of-00003.parquet": b"x"})
    completion.write_record(str(out), "curate", {"kept/a/part-00000-of-00003.parquet": 1})
    with pytest.raises(completion.IncompleteInput, match="part-00001-of-00003.parquet \\(listed, never written\\)"):
        completion.require_complete(str(out), "curate")
    assert completion.missing_parts(["d/part-00001-of-00002.x", "e/part-00000-of-00001.x"]) == ["d/part-00000-of-00002.x"]


@pytest.mark.parametrize("rel", ["../escape.parquet", "/etc/passwd", "kept/./a", "kept//a", "gs://b/x"])
def test_a_record_naming_a_path_outside_its_folder_is_refused(tmp_path, rel):
    (tmp_path / completion.RECORD_NAME).write_text(json.dumps({"job": "curate", "files": {rel: {"bytes": 1}}}))
    with pytest.raises(completion.IncompleteInput, match="not a plain relative path"):
        completion.require_complete(str(tmp_path), "curate")


def test_retract_removes_the_record_first(tmp_path):
    out = _folder(tmp_path, {"a": b"1"})
    completion.write_record(str(out), "curate", {"a": None})
    previous = completion.retract(str(out))
    assert previous["files"] == {"a": {"bytes": 1}} and completion.read_record(str(out)) is None


def test_manifest_gaps_name_missing_and_resized_shards(tmp_path):
    (tmp_path / "part-00000-of-00003.array_record").write_bytes(b"abc")
    (tmp_path / "part-00000-of-00003.lengths").write_bytes(b"")
    shards = (Shard("part-00000-of-00003.array_record", 1, 2, "part-00000-of-00003.lengths", 4, None, None),
              Shard("part-00002-of-00003.array_record", 1, 2, None, None, None, None))
    manifest = Manifest("code", {"sha256": "0" * 64, "vocab_size": 8}, shards, 2, 4, {}, "h", "v",
                        location=str(tmp_path))
    assert completion.manifest_gaps(manifest) == [
        "part-00001-of-00003.array_record (not in the manifest's shard list)",
        "part-00000-of-00003.array_record (3 bytes, the manifest says 4)",
        "part-00002-of-00003.array_record (missing)"]
