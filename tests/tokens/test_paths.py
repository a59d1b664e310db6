"""tokens.paths: join_each equals join, name by name, for local and gs:// directories; names are literal."""
import uuid

import pytest
from hypothesis import given, settings, strategies as st

from tokens import paths

DIRS = ["", "/", "d", "d/", "/data/tok", "/data/tok/", "gs://b", "gs://b/", "gs://b/x//", "rel/dir"]
NAMES = st.lists(st.sampled_from(["", "a", "/abs", "a/b", "a//b", "/", "part-00001.array_record", "é x"]), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DIRS), NAMES)
def test_join_each_equals_join(directory, names):
    assert paths.join_each(directory, names) == [paths.join(directory, name) for name in names]


@pytest.mark.gcs
def test_gcs_delete_and_listing_take_glob_characters_literally(gcs_emulator):
    base = f"gs://{gcs_emulator}/literal-{uuid.uuid4().hex[:8]}"
    for folder in ("tok1", "tok[1]", "tok*"):
        paths.write_atomic(f"{base}/{folder}/manifest.json", folder.encode())
    paths.delete(f"{base}/tok[1]/manifest.json")
    paths.delete(f"{base}/tok*/manifest.json")
    paths.delete(f"{base}/tok*/manifest.json")                        # missing now: not an error
    assert paths.read_bytes(f"{base}/tok1/manifest.json") == b"tok1"   # the glob's match is untouched
    assert not paths.exists(f"{base}/tok[1]/manifest.json") and not paths.exists(f"{base}/tok*/manifest.json")
    assert paths.list_dir(base) == ["tok1"]
    with pytest.raises(ValueError, match="not an object path"):
        paths.delete(f"gs://{gcs_emulator}")


def test_local_delete_is_literal_and_idempotent(tmp_path):
    for name in ("a1", "a[1]"):
        (tmp_path / name).write_bytes(name.encode())
    paths.delete(str(tmp_path / "a[1]"))
    paths.delete(str(tmp_path / "a[1]"))
    assert paths.list_dir(str(tmp_path)) == ["a1"]


@pytest.mark.gcs
def test_gcs_listing_sees_objects_written_by_another_client(gcs_emulator):
    """Beam writes objects through its own client: a listing or existence check made before must not be
    served from gcsfs's listing cache afterwards (train_tokenizer lists its sample folder, Beam writes
    the sample, then it lists again)."""
    from google.cloud import storage

    base = f"gs://{gcs_emulator}/fresh-{uuid.uuid4().hex[:8]}"
    paths.write_atomic(f"{base}/sample/old.jsonl", b"old")
    assert paths.list_dir(f"{base}/sample") == ["old.jsonl"]
    assert not paths.exists(f"{base}/sample/new.jsonl")
    paths.delete(f"{base}/sample/old.jsonl")
    bucket = storage.Client.create_anonymous_client().bucket(gcs_emulator)
    prefix = base.split("/", 3)[3]
    for name in ("old.jsonl", "new.jsonl"):
        bucket.blob(f"{prefix}/sample/{name}").upload_from_string(name.encode())
    assert paths.list_dir(f"{base}/sample") == ["new.jsonl", "old.jsonl"]
    assert paths.exists(f"{base}/sample/new.jsonl") and paths.size(f"{base}/sample/new.jsonl") == 9
    bucket.blob(f"{prefix}/sample/new.jsonl").delete()
    assert not paths.exists(f"{base}/sample/new.jsonl")
    assert paths.list_dir(f"{base}/sample") == ["old.jsonl"]
