"""mixture.json validation (load_mixture) and the MaxText file."""
import copy
import json
import os

import pytest

from mixer.mixture import (MixtureError, load_mixture, maxtext_mixture, mixture_hash, validate_mixture,
                           write_mixture)


def body(tmp_path, with_files=True):
    shards = {}
    for source in ("text", "code"):
        d = tmp_path / "TOKENS" / source
        d.mkdir(parents=True, exist_ok=True)
        shards[source] = [str(d / f"part-0000{i}-of-00002.array_record") for i in range(2)]
        if with_files:
            for path in shards[source]:
                open(path, "wb").close()
    return {"format_version": 1, "name": "code-25", "stage": "pretrain", "init_from": None,
            "schedule": {"kind": "cosine", "warmup_steps": 1325}, "total_tokens": 1000, "seq_len": 128, "seed": 0,
            "tokenizer_sha256": "ab" * 32, "vocab_size": 512, "command": "python -m mixer build ...",
            "max_epochs": 4, "warnings": [],
            "sources": {s: {"weight": w, "target_tokens": int(w * 1000), "available_tokens": 5000, "documents": 10,
                            "epochs": w / 5, "manifest": str(tmp_path / "TOKENS" / s / "manifest.json"),
                            "shards": shards[s]} for s, w in (("text", 0.75), ("code", 0.25))}}


def test_write_then_load_round_trips(tmp_path):
    m = body(tmp_path)
    path = write_mixture(str(tmp_path / "MIX"), m)
    assert load_mixture(path) == m
    maxtext = json.loads((tmp_path / "MIX" / "maxtext_mixture.json").read_text())
    assert maxtext == maxtext_mixture(m) == {
        "code": {"path": str(tmp_path / "TOKENS" / "code" / "part-*.array_record"), "weight": 0.25},
        "text": {"path": str(tmp_path / "TOKENS" / "text" / "part-*.array_record"), "weight": 0.75}}
    assert not [f for f in os.listdir(tmp_path / "MIX") if ".tmp" in f]


def test_missing_shards_are_named(tmp_path):
    m = body(tmp_path)
    os.remove(m["sources"]["code"]["shards"][1])
    path = tmp_path / "mixture.json"
    path.write_text(json.dumps(m))
    with pytest.raises(MixtureError, match=r"1 shard\(s\) missing: .*code/part-00001-of-00002"):
        load_mixture(str(path))
    assert load_mixture(str(path), check_shards=False)["name"] == "code-25"


def _mutate(m, dotted, value):
    target = m
    *parents, last = dotted.split(".")
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize("dotted,value,message", [
    ("sources.text.weight", 0.7, "weights sum to 0.95"),
    ("sources.text.weight", -0.1, "weight -0.1 must be finite and >= 0"),
    ("format_version", 2, "format_version 2"),
    ("stage", "finetune", "stage 'finetune' not in"),
    ("schedule.kind", "constant", "schedule.kind 'constant'"),
    ("total_tokens", 0, "total_tokens must be > 0"),
    ("seq_len", "8192", "field 'seq_len' has type str"),
    ("vocab_size", True, "field 'vocab_size' has type bool"),
    ("sources.code.shards", [], "shards must be a non-empty list"),
    ("sources.code.documents", KeyError, "missing field 'documents'"),
    ("sources", {}, "sources is empty"),
    ("init_from", 3, "init_from must be null or a stage name"),
    ("warnings", [1], "warnings must be a list of strings"),
])
def test_validation_names_the_field(tmp_path, dotted, value, message):
    m = copy.deepcopy(body(tmp_path, with_files=False))
    _mutate(m, dotted, value)
    with pytest.raises(MixtureError, match=message):
        validate_mixture(m, "MIX/mixture.json")


def test_weights_within_tolerance_pass(tmp_path):
    m = body(tmp_path, with_files=False)
    m["sources"]["text"]["weight"] = 0.75 + 5e-10
    assert validate_mixture(m)
    m["sources"]["text"]["weight"] = 0.75 + 5e-9
    with pytest.raises(MixtureError, match="weights sum"):
        validate_mixture(m)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(MixtureError, match="cannot read mixture"):
        load_mixture(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MixtureError, match="not valid JSON"):
        load_mixture(str(tmp_path / "bad.json"))


def test_hash_ignores_the_command_line_only(tmp_path):
    m = body(tmp_path, with_files=False)
    other = dict(m, command="something else")
    assert mixture_hash(m) == mixture_hash(other)
    assert mixture_hash(m) != mixture_hash(dict(m, seed=1))
