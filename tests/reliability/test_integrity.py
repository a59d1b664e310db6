"""Issue 13.8 and 13.9: a mixture trains on the data it was built from, and stored bytes are verified.

13.8: mixture.json records a fingerprint of every manifest it used; a source re-tokenized into the same
folder afterwards is refused by the trainer's loader and by `mixer inspect --check`, with what changed
and the command that rebuilds the mixture. On 00f01f7 the trainer sampled the new shards silently.
13.9: the manifest records size and CRC32C per shard and sidecar and refuses a shard listed twice. On
00f01f7 a sidecar with the same count and sum but altered values, a manifest listing one shard twice
(totals doubled) and a shard rewritten in place were all accepted.
"""
from __future__ import annotations

import json
import logging
import shutil
import uuid

import numpy as np
import pytest

from mixer.cli import main as mixer_main
from pipelines import tokenize
from tests.pipelines.curated_sample import write_curated
from tests.reliability.stages import curated_and_tokenizer, tokenize_args
from tokens.manifest import ManifestError, load_manifest
from tokens.source import TokenizedSource


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    curated_and_tokenizer(root, per_source=6)
    tokenize.run(tokenize_args(root, root / "tokens", 2))
    return root


def _build(data, mix) -> dict:
    assert mixer_main(["build", "--weights", "code=0.5,text=0.5", "--data", str(data), "--tokens", "10K",
                       "--seq-len", "64", "--allow-repeat", "--output", str(mix)]) == 0
    return json.loads((mix / "mixture.json").read_text())


def _train_iterator(mixture, mix):
    from trainer import data

    it = data.make_train_iterator(mixture, data.DataConfig(seq_len=64, global_batch=2, prefetch=0), str(mix))
    return next(it)


# ---------------------------------------------------------------------------------------------- 13.8

def test_retokenized_source_is_refused_by_trainer_and_inspect(corpus, tmp_path, capsys):
    data = tmp_path / "tokens"
    shutil.copytree(corpus / "tokens", data)
    mixture = _build(data, tmp_path / "mix")
    _train_iterator(mixture, tmp_path / "mix")           # the data it was built from trains
    # Re-tokenize into the same folder from a bigger curated set, same shard count and names.
    write_curated(str(tmp_path / "curated2"), per_source=9)
    tokenize.run(["--input", str(tmp_path / "curated2"), "--tokenizer", str(corpus / "tok" / "tokenizer.model"),
                  "--output", str(data), "--num-shards", "2"])
    from trainer.data import DataError

    with pytest.raises(DataError) as err:
        _train_iterator(mixture, tmp_path / "mix")
    message = str(err.value)
    assert "changed since mixture" in message and "documents" in message, message
    assert "Rebuild the mixture: python -m mixer build" in message, message
    capsys.readouterr()
    assert mixer_main(["inspect", str(tmp_path / "mix" / "mixture.json"), "--check"]) == 1
    out = capsys.readouterr().out
    assert "changed since mixture" in out and "shards rewritten: part-00000-of-00002.array_record" in out, out
    # Rebuilt, it trains again.
    _train_iterator(_build(data, tmp_path / "mix"), tmp_path / "mix")


def test_fingerprint_does_not_depend_on_where_the_data_lives(corpus, tmp_path):
    """The same bytes in another folder (or bucket) keep the mixture's fingerprint and hash."""
    from mixer.mixture import mixture_hash

    shutil.copytree(corpus / "tokens", tmp_path / "moved")
    here, there = _build(corpus / "tokens", tmp_path / "a"), _build(tmp_path / "moved", tmp_path / "b")
    assert here["sources"]["code"]["fingerprint"] == there["sources"]["code"]["fingerprint"]
    assert mixture_hash(here) == mixture_hash(there)


# ---------------------------------------------------------------------------------------------- 13.9

def test_sidecar_with_same_count_and_sum_but_altered_values_is_refused(corpus, tmp_path):
    data = tmp_path / "tokens"
    shutil.copytree(corpus / "tokens", data)
    mixture = _build(data, tmp_path / "mix")
    sidecar = data / "code" / "part-00000-of-00002.lengths"
    values = np.frombuffer(sidecar.read_bytes(), "<u4").copy()
    i, j = int(np.argmax(values)), int(np.argmin(values))
    values[i], values[j] = values[i] - 1, values[j] + 1          # same count, same sum, other documents
    sidecar.write_bytes(values.astype("<u4").tobytes())
    with pytest.raises(ManifestError, match="crc32c") as err:
        TokenizedSource.open(str(data / "code" / "manifest.json"), verify=True)
    assert "part-00000-of-00002.lengths" in str(err.value)
    with pytest.raises(Exception) as err:
        _train_iterator(mixture, tmp_path / "mix")
    assert "part-00000-of-00002.lengths" in str(err.value) and "crc32c" in str(err.value)


def test_manifest_listing_a_shard_twice_is_refused(corpus, tmp_path, capsys):
    data = tmp_path / "tokens"
    shutil.copytree(corpus / "tokens", data)
    path = data / "code" / "manifest.json"
    body = json.loads(path.read_text())
    body["shards"].append(dict(body["shards"][0]))
    body["documents"] += body["shards"][0]["documents"]
    body["tokens"] += body["shards"][0]["tokens"]
    path.write_text(json.dumps(body))
    with pytest.raises(ManifestError, match="already listed"):
        load_manifest(str(path))
    assert mixer_main(["build", "--weights", "code=0.5,text=0.5", "--data", str(data), "--tokens", "10K",
                       "--seq-len", "64", "--allow-repeat", "--output", str(tmp_path / "mix")]) == 2
    assert "already listed" in capsys.readouterr().err
    assert not (tmp_path / "mix" / "mixture.json").exists()


def test_shard_rewritten_in_place_fails_the_check(corpus, tmp_path, capsys):
    """Same size, different bytes (bit rot, a copy from elsewhere): `mixer inspect --check` reads every
    shard against its CRC32C and names it; a shard of another size is refused on every open."""
    data = tmp_path / "tokens"
    shutil.copytree(corpus / "tokens", data)
    _build(data, tmp_path / "mix")
    shard = data / "code" / "part-00001-of-00002.array_record"
    blob = bytearray(shard.read_bytes())
    blob[len(blob) // 3] ^= 0x01
    shard.write_bytes(bytes(blob))
    capsys.readouterr()
    assert mixer_main(["inspect", str(tmp_path / "mix" / "mixture.json"), "--check"]) == 1
    out = capsys.readouterr().out
    assert "part-00001-of-00002.array_record" in out and "crc32c" in out, out
    shard.write_bytes(bytes(blob) + b"\0")
    with pytest.raises(ManifestError, match="bytes"):
        TokenizedSource.open(str(data / "code" / "manifest.json"), verify=True)


def test_manifest_without_checksums_is_accepted_with_a_warning(corpus, tmp_path, caplog):
    """Policy: a manifest written before checksums loads (nothing to verify) and says so once."""
    data = tmp_path / "tokens"
    shutil.copytree(corpus / "tokens", data)
    path = data / "text" / "manifest.json"
    body = json.loads(path.read_text())
    for entry in body["shards"]:
        for key in ("bytes", "crc32c", "lengths_crc32c"):
            entry.pop(key)
    path.write_text(json.dumps(body))
    with caplog.at_level(logging.WARNING, logger="tokens.source"):
        with TokenizedSource.open(str(path), verify=True) as source:
            assert source.verify_checksums() == 0 and len(source.lengths()) == body["documents"]
    assert "no checksums" in caplog.text and "re-tokenize" in caplog.text


@pytest.mark.gcs
def test_gcs_shard_is_verified_when_fetched_into_the_cache(corpus, gcs_emulator, tmp_path):
    from tokens import paths

    base = f"gs://{gcs_emulator}/crc-{uuid.uuid4().hex[:8]}/code"
    for path in sorted((corpus / "tokens" / "code").iterdir()):
        blob = path.read_bytes()
        if path.name == "part-00000-of-00002.array_record":
            blob = blob[:100] + bytes([blob[100] ^ 0x01]) + blob[101:]     # same size, other bytes
        paths.write_atomic(f"{base}/{path.name}", blob)
    cache = tmp_path / "cache"
    with pytest.raises(ManifestError, match="crc32c") as err:
        TokenizedSource.open(f"{base}/manifest.json", verify=True, cache_dir=str(cache))
    assert "part-00000-of-00002.array_record" in str(err.value)
    assert not list(cache.glob("*.data"))    # the bad copy does not stay in the cache
