"""Token records: Example wire format, fast decode, and the checked random-access reader."""
import os

import numpy as np
import pytest
from array_record.python.array_record_module import ArrayRecordWriter
from hypothesis import given, settings
from hypothesis import strategies as st

from tokens import lengths as lengths_sidecar
from tokens import records
from tokens.source import TokenizedSource
from tokens.manifest import Manifest, ManifestError, Shard, write_manifest
from tokens.proto import example_pb2

VOCAB, EOS = 1000, 2


def _doc(rng, n):
    return np.append(rng.integers(3, VOCAB, n - 1), EOS).astype(np.int32)


def _write_source(directory, shards, source="code", vocab=VOCAB, raw=None, sidecars=False):
    """Shards of token arrays -> ArrayRecord files + manifest; `raw` overrides record bytes; `sidecars` writes
    the lengths sidecars and names them in the manifest, as the tokenize job does."""
    os.makedirs(directory, exist_ok=True)
    entries = []
    for s, docs in enumerate(shards):
        name = f"part-{s:05d}-of-{len(shards):05d}.array_record"
        writer = ArrayRecordWriter(os.path.join(directory, name), "group_size:1")
        for d, ids in enumerate(docs):
            rec = raw.get((s, d)) if raw else None
            writer.write(rec if rec is not None else records.encode_example(ids, source))
        writer.close()
        sidecar = None
        if sidecars:
            sidecar = lengths_sidecar.sidecar_name(name)
            (directory / sidecar).write_bytes(lengths_sidecar.encode([len(x) for x in docs]))
        entries.append(Shard(name, len(docs), int(sum(len(x) for x in docs)), sidecar))
    lengths = [len(x) for docs in shards for x in docs]
    manifest = Manifest(
        source=source, tokenizer={"sha256": "ab" * 32, "vocab_size": vocab, "eos_id": EOS, "pad_id": 0},
        shards=tuple(entries), documents=len(lengths), tokens=sum(lengths),
        length_histogram={"min": min(lengths), "median": int(np.median(lengths)), "p99": max(lengths),
                          "max": max(lengths)},
        config_hash="cfg", code_version="test")
    return write_manifest(str(directory), manifest)


@given(st.lists(st.integers(0, 2**31 - 1), max_size=300), st.text(max_size=20))
@settings(max_examples=150, deadline=None)
def test_roundtrip_fast_and_full_decode_agree(ids, source):
    rec = records.encode_example(ids, source)
    full, tag = records.decode_example(rec)
    assert full.tolist() == ids and tag == source
    fast = records.decode_tokens(rec)
    assert fast.dtype == np.int32 and fast.tolist() == ids


def test_wire_format_is_tensorflow_example():
    # Same message names and field numbers as tensorflow/core/example/{example,feature}.proto.
    assert example_pb2.Example.DESCRIPTOR.full_name == "tensorflow.Example"
    feature = example_pb2.Feature.DESCRIPTOR.fields_by_name
    assert {k: feature[k].number for k in feature} == {"bytes_list": 1, "float_list": 2, "int64_list": 3}
    assert example_pb2.Example.DESCRIPTOR.fields_by_name["features"].number == 1
    # Hand-assembled bytes per the protobuf wire spec: features{feature{"text": int64_list [1, 300]}}.
    int64_list = b"\x0a\x03" + b"\x01\xac\x02"                 # field 1, packed varints 1, 300
    feat = b"\x1a" + bytes([len(int64_list)]) + int64_list       # Feature.int64_list = 3
    entry = b"\x0a\x04text" + b"\x12" + bytes([len(feat)]) + feat
    features = b"\x0a" + bytes([len(entry)]) + entry
    wire = b"\x0a" + bytes([len(features)]) + features
    assert records.decode_tokens(wire).tolist() == [1, 300]
    assert records.decode_example(wire)[0].tolist() == [1, 300]
    # Unpacked ids (legal protobuf, not what we write) take the fallback path.
    unpacked = b"\x08\x05\x08\xac\x02"
    feat = b"\x1a" + bytes([len(unpacked)]) + unpacked
    entry = b"\x0a\x04text\x12" + bytes([len(feat)]) + feat
    features = b"\x0a" + bytes([len(entry)]) + entry
    assert records.decode_tokens(b"\x0a" + bytes([len(features)]) + features).tolist() == [5, 300]
    # The same for a long record (the compiled walker must bail out, not misparse).
    ex = example_pb2.Example.FromString(records.encode_example(list(range(1000, 1400)), "code"))
    unpacked = b"".join(b"\x08" + _varint(v) for v in range(1000, 1400))
    feat = b"\x1a" + _varint(len(unpacked)) + unpacked
    entry = b"\x0a\x04text\x12" + _varint(len(feat)) + feat
    features = b"\x0a" + _varint(len(entry)) + entry
    wire = b"\x0a" + _varint(len(features)) + features
    assert records.decode_tokens(wire).tolist() == list(ex.features.feature["text"].int64_list.value)


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_encoding_is_deterministic_and_rejects_negative_ids():
    assert records.encode_example([5, 6, 7], "text") == records.encode_example(np.array([5, 6, 7]), "text")
    with pytest.raises(ValueError, match="negative"):
        records.encode_example([1, -1], "text")


@pytest.mark.parametrize("cut", [1, 3, 7])
def test_truncated_record_is_an_error_not_garbage(cut):
    rec = records.encode_example(list(range(200, 600)), "code")
    with pytest.raises(records.CorruptRecordError):
        records.decode_tokens(rec[:-cut])
    with pytest.raises(records.CorruptRecordError):
        records.decode_example(rec[:-cut])


def test_missing_text_feature_is_an_error():
    ex = example_pb2.Example()
    ex.features.feature["source"].bytes_list.value.append(b"code")
    with pytest.raises(records.CorruptRecordError, match="text"):
        records.decode_tokens(ex.SerializeToString())


def test_tokenized_source_random_access(tmp_path):
    rng = np.random.default_rng(0)
    shards = [[_doc(rng, n) for n in (5, 40, 7)], [], [_doc(rng, n) for n in (3, 900)]]
    path = _write_source(tmp_path / "code", shards)
    flat = [d for docs in shards for d in docs]
    with TokenizedSource.open(path) as src:
        assert len(src) == 5 and src.source == "code" and src.tokens == sum(map(len, flat))
        for i, want in enumerate(flat):
            assert src[i].dtype == np.int32 and src[i].tolist() == want.tolist()
        assert src[-1].tolist() == flat[-1].tolist()
        assert [x.tolist() for x in src.get_many([4, 0, 3, 0])] == [flat[k].tolist() for k in (4, 0, 3, 0)]
        assert [x.tolist() for x in src.iter_source(chunk=2)] == [d.tolist() for d in flat]
        assert src.verify_tokens() == src.tokens
        with pytest.raises(IndexError):
            src[5]


def test_record_count_mismatch_names_the_shard(tmp_path):
    rng = np.random.default_rng(1)
    path = _write_source(tmp_path / "text", [[_doc(rng, 4)] * 3, [_doc(rng, 4)] * 2], source="text")
    shard = tmp_path / "text" / "part-00001-of-00002.array_record"
    writer = ArrayRecordWriter(str(shard), "group_size:1")
    writer.write(records.encode_example(_doc(rng, 4), "text"))
    writer.close()
    with pytest.raises(ManifestError, match="part-00001-of-00002.*1 records, manifest says 2"):
        TokenizedSource.open(path)


def test_missing_shard_names_the_shard(tmp_path):
    rng = np.random.default_rng(2)
    path = _write_source(tmp_path / "code", [[_doc(rng, 4)], [_doc(rng, 4)]])
    os.unlink(tmp_path / "code" / "part-00000-of-00002.array_record")
    with pytest.raises(ManifestError, match="part-00000-of-00002"):
        TokenizedSource.open(path)


def _flip(path, at):
    data = bytearray(path.read_bytes())
    for k in range(4):
        data[at + k] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_a_record_name_shard_and_record(tmp_path):
    rng = np.random.default_rng(3)
    path = _write_source(tmp_path / "code", [[_doc(rng, 300) for _ in range(8)]])
    shard = tmp_path / "code" / "part-00000-of-00001.array_record"
    _flip(shard, 1500)   # inside the chunk of an early record (riegeli hashes every chunk)
    src = TokenizedSource.open(path)
    with pytest.raises(records.CorruptRecordError, match=r"part-00000-of-00001.array_record: cannot read record \d"):
        src.verify_tokens()
    bad = [i for i in range(len(src)) if _raises(lambda: src[i])]
    assert len(bad) == 1   # the damage stays in one record; its neighbours still read


def _raises(fn):
    try:
        fn()
    except records.CorruptRecordError:
        return True
    return False


def test_damaged_block_header_is_refused_on_open(tmp_path):
    rng = np.random.default_rng(3)
    path = _write_source(tmp_path / "code", [[_doc(rng, 300) for _ in range(8)]])
    shard = tmp_path / "code" / "part-00000-of-00001.array_record"
    _flip(shard, 65536 + 8)   # riegeli's block header at the 64 KiB boundary
    with pytest.raises(ManifestError, match="part-00000-of-00001.array_record"):
        TokenizedSource.open(path)


def test_bad_records_are_refused_with_index(tmp_path):
    rng = np.random.default_rng(4)
    docs = [_doc(rng, 6) for _ in range(4)]
    big = docs[2].copy()
    big[1] = VOCAB + 5
    path = _write_source(tmp_path / "code", [docs], raw={(0, 2): records.encode_example(big, "code")})
    src = TokenizedSource.open(path)
    assert src[1].tolist() == docs[1].tolist()
    with pytest.raises(records.CorruptRecordError, match=r"part-00000-of-00001.*record 2.*>= vocab_size"):
        src[2]
    with pytest.raises(records.CorruptRecordError, match="record 2"):
        src.verify_tokens()


def test_verify_checks_source_tag_and_eos(tmp_path):
    rng = np.random.default_rng(5)
    docs = [_doc(rng, 6) for _ in range(3)]
    path = _write_source(tmp_path / "a", [docs], raw={(0, 1): records.encode_example(docs[1], "text")})
    with pytest.raises(records.CorruptRecordError, match="record 1: source 'text'"):
        TokenizedSource.open(path).verify_tokens()
    no_eos = docs[0].copy()
    no_eos[-1] = 7
    path = _write_source(tmp_path / "b", [docs], raw={(0, 0): records.encode_example(no_eos, "code")})
    with pytest.raises(records.CorruptRecordError, match="record 0: does not end with EOS"):
        TokenizedSource.open(path).verify_tokens()


def test_records_checked_by_the_compiled_decoder(tmp_path):
    """The compiled decoder's maximum is the vocabulary check: same ids, same errors as the protobuf path."""
    rng = np.random.default_rng(5)
    docs = [_doc(rng, 400) for _ in range(4)]
    over_vocab, over_int32 = docs[1].astype(np.int64), docs[2].astype(np.int64)
    over_vocab[7], over_int32[9] = VOCAB, 2**31 + 3
    raw = {(0, 1): records.encode_example(over_vocab, "code"), (0, 2): records.encode_example(over_int32, "code")}
    path = _write_source(tmp_path / "code", [docs], raw=raw)
    src = TokenizedSource.open(path)
    for i in (0, 3):
        got = src[i]
        assert got.dtype == np.int32 and got.tolist() == docs[i].tolist()
    with pytest.raises(records.CorruptRecordError, match=rf"part-00000-of-00001.*record 1: token id {VOCAB} >= vocab"):
        src[1]
    with pytest.raises(records.CorruptRecordError, match=r"part-00000-of-00001.*record 2: token id outside int32"):
        src[2]


def test_lengths_from_sidecars_without_reading_records(tmp_path):
    rng = np.random.default_rng(7)
    shards = [[_doc(rng, n) for n in (5, 40, 7)], [], [_doc(rng, n) for n in (3, 900)]]
    path = _write_source(tmp_path / "code", shards, sidecars=True)
    want = [len(d) for docs in shards for d in docs]
    with TokenizedSource.open(path) as src:
        got = src.lengths()
        assert got.dtype == np.uint32 and got.tolist() == want and not got.flags.writeable
        assert [src.length(i) for i in range(5)] == want and src.length(-1) == 900
        with pytest.raises(IndexError):
            src.length(5)
    for name in ("part-00000-of-00003.array_record", "part-00002-of-00003.array_record"):
        os.unlink(tmp_path / "code" / name)        # the sidecars alone answer: no record is read
    assert TokenizedSource.open(path, verify=False).lengths().tolist() == want


def test_lengths_fall_back_to_records_without_sidecars(tmp_path):
    rng = np.random.default_rng(8)
    shards = [[_doc(rng, n) for n in (5, 40)], [_doc(rng, n) for n in (3, 700, 9)]]
    path = _write_source(tmp_path / "code", shards)        # a manifest from before sidecars
    with TokenizedSource.open(path) as src:
        assert src.manifest.lengths_paths == [None, None]
        assert src.lengths().tolist() == [5, 40, 3, 700, 9] and src.length(3) == 700


@pytest.mark.parametrize("damage,message", [
    (lambda f: f.write_bytes(lengths_sidecar.encode([5, 40])), r"2 document lengths, manifest says 3 documents"),
    (lambda f: f.write_bytes(lengths_sidecar.encode([5, 40, 8])), r"sum to 53 tokens, manifest says 52"),
    (lambda f: f.write_bytes(f.read_bytes()[:-2]), r"not a whole number of uint32 lengths"),
    (lambda f: f.unlink(), r"cannot read lengths sidecar"),
])
def test_sidecar_mismatch_names_the_file(tmp_path, damage, message):
    rng = np.random.default_rng(9)
    path = _write_source(tmp_path / "code", [[_doc(rng, 4)], [_doc(rng, n) for n in (5, 40, 7)]], sidecars=True)
    damage(tmp_path / "code" / "part-00001-of-00002.lengths")
    with pytest.raises(ManifestError, match="part-00001-of-00002.lengths: .*" + message):
        TokenizedSource.open(path)                 # verify=True checks sidecars on open
    src = TokenizedSource.open(path, verify=False)
    with pytest.raises(ManifestError, match=message):
        src.lengths()


_IDS = st.lists(st.integers(0, (1 << 31) - 1) | st.integers(0, 300), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_IDS, st.sampled_from(["text", "code", "é", ""]),
                          st.sampled_from(["list", "int32", "int64", "uint64"])), max_size=6))
def test_encode_examples_equals_encode_example(docs):
    """The tokenize job's batch encoder writes the bytes encode_example writes, document by document."""
    def as_kind(ids, kind):
        return ids if kind == "list" else np.array(ids, dtype=kind)
    batch = [as_kind(ids, kind) for ids, _, kind in docs]
    sources = [s for _, s, _ in docs]
    assert records.encode_examples(batch, sources) == [records.encode_example(b, s) for b, s in zip(batch, sources)]


def test_encode_examples_refuses_negative_ids_and_takes_big_ones():
    with pytest.raises(ValueError, match="negative token id -3"):
        records.encode_examples([[1, 2], [5, -3]], ["text", "text"])
    big = [[1 << 31, 7], [1 << 40]]       # beyond int32: still what encode_example writes
    assert records.encode_examples(big, ["a", "b"]) == [records.encode_example(b, s) for b, s in zip(big, "ab")]
    long = np.arange(200_000, dtype=np.int32) * 10_000   # 5-byte varints, a 16 KB+ record
    assert records.encode_examples([long], ["x"]) == [records.encode_example(long, "x")]
    assert records.decode_tokens(records.encode_examples([long], ["x"])[0]).tolist() == long.tolist()


def _wire(packed: bytes) -> bytes:
    """features{feature{"text": int64_list{packed}}} around a raw packed-varint payload."""
    payload = b"\x0a" + _varint(len(packed)) + packed
    feat = b"\x1a" + _varint(len(payload)) + payload
    entry = b"\x0a\x04text\x12" + _varint(len(feat)) + feat
    features = b"\x0a" + _varint(len(entry)) + entry
    return b"\x0a" + _varint(len(features)) + features


@pytest.mark.parametrize("packed,message", [(b"\x05\x85", "ends inside a varint"),
                                            (b"\x05" + b"\xff" * 6 + b"\x01", "longer than 5 bytes"),
                                            (b"\x05" + _varint(2**31), "outside int32 range")])
def test_compiled_decoder_names_a_damaged_id_list(packed, message):
    assert records.decode_tokens(_wire(b"\x05\x07")).tolist() == [5, 7]
    with pytest.raises(records.CorruptRecordError, match=message):
        records.decode_tokens(_wire(packed))


def test_damaged_structure_falls_back_to_protobuf_which_refuses():
    rec = records.encode_example(list(range(100, 400)), "code")
    for cut in (len(rec) // 2, 5, 1):
        with pytest.raises(records.CorruptRecordError, match="not a tf.train.Example"):
            records.decode_tokens(rec[:cut])
