import json

import pytest
from hypothesis import given, settings, strategies as st

from tokens.manifest import Manifest, ManifestError, Shard, load_manifest, parse_manifest, write_manifest


def _body(**over):
    body = {
        "format_version": 1, "source": "code",
        "tokenizer": {"sha256": "ab" * 32, "vocab_size": 512, "eos_id": 2, "pad_id": 0},
        "shards": [{"path": "part-00000-of-00002.array_record", "documents": 3, "tokens": 30},
                   {"path": "part-00001-of-00002.array_record", "documents": 2, "tokens": 12}],
        "documents": 5, "tokens": 42,
        "length_histogram": {"min": 2, "median": 8, "p99": 15, "max": 15},
        "config_hash": "c" * 64, "code_version": "test",
    }
    body.update(over)
    return body


def test_valid_manifest_parses_and_resolves_shards():
    m = parse_manifest(json.dumps(_body()), "m.json", location="/data/tokens/code")
    assert (m.documents, m.tokens, m.vocab_size) == (5, 42, 512)
    assert m.shard_paths == ["/data/tokens/code/part-00000-of-00002.array_record",
                             "/data/tokens/code/part-00001-of-00002.array_record"]
    gcs = parse_manifest(json.dumps(_body()), "m.json", location="gs://b/tokens/code")
    assert gcs.shard_paths[0] == "gs://b/tokens/code/part-00000-of-00002.array_record"


@pytest.mark.parametrize("path", ["../other/part.array_record", "/abs/part.array_record",
                                  "gs://b/x.array_record", "a/../../x", "C:/x"])
def test_shard_paths_that_escape_are_refused(path):
    body = _body()
    body["shards"][0]["path"] = path
    with pytest.raises(ManifestError, match="escapes"):
        parse_manifest(json.dumps(body), "bad.json")


@pytest.mark.parametrize("over,message", [
    ({"documents": 6}, "shards sum to 5"),
    ({"tokens": 41}, "shards sum to 42"),
    ({"format_version": 2}, "format_version"),
    ({"tokenizer": {"vocab_size": 3}}, "sha256"),
    ({"shards": "x"}, "shards"),
])
def test_inconsistent_manifests_are_refused(over, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest(json.dumps(_body(**over)), "bad.json")


def test_missing_field_and_bad_json_name_the_file():
    body = _body()
    del body["source"]
    with pytest.raises(ManifestError, match="bad.json: missing field 'source'"):
        parse_manifest(json.dumps(body), "bad.json")
    with pytest.raises(ManifestError, match="bad.json: not valid JSON"):
        parse_manifest("{", "bad.json")


def test_write_then_load_round_trips(tmp_path):
    m = parse_manifest(json.dumps(_body()), "x")
    path = write_manifest(str(tmp_path), m)
    assert path.endswith("manifest.json")
    again = load_manifest(str(tmp_path))
    assert again.shards == m.shards and again.tokenizer == m.tokenizer
    assert again.location == str(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name != "manifest.json"], "no temp files left behind"


def test_write_refuses_an_inconsistent_manifest(tmp_path):
    bad = Manifest(source="x", tokenizer={"sha256": "a", "vocab_size": 1, "eos_id": 0},
                   shards=(Shard("p", 1, 1),), documents=2, tokens=1, length_histogram={},
                   config_hash="", code_version="")
    with pytest.raises(ManifestError):
        write_manifest(str(tmp_path), bad)
    assert not (tmp_path / "manifest.json").exists()


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifest(str(tmp_path / "nowhere"))


def _with_lengths():
    body = _body()
    for shard in body["shards"]:
        shard["lengths"] = shard["path"].replace(".array_record", ".lengths")
    return body


def test_lengths_sidecars_resolve_and_round_trip(tmp_path):
    m = parse_manifest(json.dumps(_with_lengths()), "m.json", location="gs://b/tokens/code")
    assert m.lengths_paths == ["gs://b/tokens/code/part-00000-of-00002.lengths",
                               "gs://b/tokens/code/part-00001-of-00002.lengths"]
    write_manifest(str(tmp_path), m)
    assert load_manifest(str(tmp_path)).shards == m.shards


def test_manifest_without_lengths_stays_valid_and_writes_no_null(tmp_path):
    m = parse_manifest(json.dumps(_body()), "old.json")
    assert m.lengths_paths == [None, None]
    write_manifest(str(tmp_path), m)
    written = json.loads((tmp_path / "manifest.json").read_text())
    assert all("lengths" not in shard for shard in written["shards"])   # old readers see the old schema


@pytest.mark.parametrize("path", ["../other/part.lengths", "/abs/part.lengths", "gs://b/x.lengths",
                                  "a/../../x", "C:/x", "", None, 7])
def test_lengths_paths_that_escape_are_refused(path):
    body = _with_lengths()
    body["shards"][1]["lengths"] = path
    with pytest.raises(ManifestError, match=r"bad.json: shards\[1\]: lengths path"):
        parse_manifest(json.dumps(body), "bad.json")


# The bulk check (tokens.manifest._plain_shards) must accept exactly what the per-entry check accepts,
# with the same shards, and leave every refusal (and its message) to the per-entry check.
_PATH_PARTS = ["part", "a", "..", ".", ":", "C:", "/", "\\", "://", "x.array_record", "\x00", "é", " ", ""]


_CRCS = st.one_of(st.none(), st.sampled_from(["0123abcd", "0123ABCD", "0123abc", 7, ""]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.fixed_dictionaries(
    {"path": st.one_of(st.lists(st.sampled_from(_PATH_PARTS), max_size=4).map("".join), st.none(), st.integers()),
     "documents": st.one_of(st.integers(-2, 5), st.booleans(), st.none()),
     "tokens": st.one_of(st.integers(-2, 9), st.booleans())},
    optional={"lengths": st.one_of(st.lists(st.sampled_from(_PATH_PARTS), max_size=3).map("".join), st.none()),
              "bytes": st.one_of(st.none(), st.integers(-1, 3), st.booleans()),
              "crc32c": _CRCS, "lengths_crc32c": _CRCS}),
    max_size=5))
def test_bulk_shard_check_equals_the_per_entry_check(entries):
    from tokens import manifest
    try:
        expected = manifest._parse_shards(json.loads(json.dumps(entries)), "w: shards", bulk=False)
    except ManifestError:
        expected = None
    bulk = manifest._plain_shards(json.loads(json.dumps(entries)))
    assert bulk is None or bulk == expected

    def plain(name):
        return (name is None or not any(c in str(name) for c in ":\\\x00") and ".." not in str(name)
                and "./" not in str(name) and "//" not in str(name) and not str(name).endswith(("/", "/.")))
    if expected is not None and all(plain(r.get("path")) and plain(r.get("lengths")) for r in entries):
        assert bulk == expected   # plain entries take the bulk path


def test_large_manifest_parses_in_bulk_and_errors_name_the_entry():
    shards = [{"path": f"part-{i:05d}.array_record", "documents": 1, "tokens": 2, "lengths": f"l-{i}"}
              for i in range(5000)]
    body = _body(shards=shards, documents=5000, tokens=10000)
    m = parse_manifest(json.dumps(body), "big.json", location="/d")
    assert len(m.shards) == 5000 and m.shards[7] == Shard("part-00007.array_record", 1, 2, "l-7")
    assert m.shard_paths[7] == "/d/part-00007.array_record" and m.lengths_paths[7] == "/d/l-7"
    shards[4321]["tokens"] = 0
    with pytest.raises(ManifestError, match=r"big.json: shards\[4321\]: impossible counts"):
        parse_manifest(json.dumps(_body(shards=shards, documents=5000, tokens=9998)), "big.json")
