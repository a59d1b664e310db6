"""Issue 21: a family is declared once. One registered at runtime, with a tag no file of the project names,
flows through the real curate -> tokenize -> mixer jobs with no other edit.

On 17a5377 the tag lists lived in 8 places; a tag missing from `filters_for` had every document rejected
as `error`, one missing from `document.SOURCES` filed its counters as job-wide.
"""
from __future__ import annotations

import functools
import json
import random
import types

import pytest

from pipelines import sources as families
from pipelines.document import Document, doc_id
from pipelines.filters import FilterConfig, length_reason
from pipelines.sources import ReadLimits
from tokens import sources as tags

TAG, FAMILY = "transcripts", "podcasts"
WORDS = ("river stone quiet morning signal harbour garden letter window market copper lantern winter "
         "meadow thunder violin canyon pepper orbit marble feather candle bridge castle ocean silver").split()


def parse(stream, name: str, limits: ReadLimits = ReadLimits()):
    """A reader as any family module has one: bytes -> Documents keyed by place."""
    for number, line in enumerate(stream.read().decode("utf-8").splitlines(), 1):
        key = f"{name}#line {number}"
        yield Document(doc_id(TAG, key), TAG, json.loads(line)["text"], {"file": name, "line": number})


def transcript_chain(cfg: FilterConfig):
    return [("length", functools.partial(length_reason, cfg=cfg.minimal))]


READER = types.SimpleNamespace(SOURCE=TAG, PATTERNS=("*.jsonl",), parse=parse)


@pytest.fixture
def registered():
    tags.register(TAG, tags.TEXT)
    families.register(families.Family(FAMILY, READER, {TAG: transcript_chain}))
    yield
    families.unregister(FAMILY)
    tags.unregister(TAG)


def _texts(n: int) -> list[str]:
    rng = random.Random(7)
    return [" ".join(rng.choice(WORDS) for _ in range(60 + i)) + "." for i in range(n)]


def test_new_family_flows_through_curate_tokenize_and_mixer(registered, tmp_path):
    from mixer.cli import main as mixer_main
    from pipelines import curate, tokenize
    from tests.pipelines.curated_sample import train_tokenizer

    raw = tmp_path / "raw" / FAMILY
    raw.mkdir(parents=True)
    texts = _texts(24)
    (raw / "episodes.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts) + '{"text": "hi"}\n')
    report = curate.run(["--input", str(tmp_path / "raw"), "--output", str(tmp_path / "curated"), "--no-langid"])
    row = report["sources"][TAG]          # counted per source, not as job-wide counters
    assert row["in"] == 25 and row["kept"] + row["exact_duplicates"] + row["near_duplicates"] == 24
    assert row["rejected"] == {"too_short": 1}
    assert not any(k.startswith(TAG) for k in report["job_counters"])
    assert list((tmp_path / "curated" / "kept" / TAG).glob("*.parquet"))

    model = tmp_path / "tokenizer.model"
    model.write_bytes(train_tokenizer({TAG: [{"text": t} for t in texts]}, vocab=400))
    manifests = tokenize.run(["--input", str(tmp_path / "curated"), "--tokenizer", str(model),
                              "--output", str(tmp_path / "tokens"), "--heldout-fraction", "0",
                              "--heldout-min-documents", "0"])
    assert set(manifests) == {TAG}

    # --code 0: the text role's share goes to the text-role tags that have tokens (only ours here).
    assert mixer_main(["build", "--code", "0", "--data", str(tmp_path / "tokens"), "--tokens", "2K",
                       "--seq-len", "16", "--allow-repeat", "--output", str(tmp_path / "mix")]) == 0
    mixture = json.loads((tmp_path / "mix" / "mixture.json").read_text())
    assert set(mixture["sources"]) == {TAG} and mixture["sources"][TAG]["weight"] == 1.0

    from evals.sweep import code_share
    assert code_share([mixture]) == 0.0   # a text-role tag counts on the text side


def test_registration_refuses_what_would_fail_later(registered):
    with pytest.raises(KeyError, match="unknown source tag"):   # a tag without a mixture role
        families.register(families.Family("radio", types.SimpleNamespace(SOURCE="radio", PATTERNS=("*",), parse=parse),
                                          {"radio": transcript_chain}))
    with pytest.raises(ValueError, match="lacks PATTERNS, parse"):
        families.register(families.Family("radio", types.SimpleNamespace(SOURCE="radio"), {"radio": transcript_chain}))
    with pytest.raises(ValueError, match="already produced by family 'podcasts'"):
        families.register(families.Family("more", READER, {TAG: transcript_chain}))
    with pytest.raises(ValueError, match="role"):
        tags.register("radio", "podcast")
    with pytest.raises(ValueError, match="already declared"):
        tags.register("code", tags.TEXT)


def test_every_family_tag_has_a_role_and_a_chain():
    """The derived views agree: each built-in tag belongs to one family and has a role the mixer knows."""
    produced = [t for f in families.FAMILIES.values() for t in f.tags]
    assert sorted(produced) == sorted(set(produced)) == sorted(tags.names())
    for tag in produced:
        assert isinstance(families.filters_for(tag), list)
    assert set(tags.code_side()) == {"code", "markup", "commits", "notebooks", "stackexchange", "synthetic"}


def test_recipes_name_only_declared_tags():
    """The paper's recipes (mixer/presets.py) weight tags by name: each must be declared."""
    from mixer.presets import PRESETS

    for preset in PRESETS.values():
        for stage in preset.stages:
            assert {name for name, _ in stage.spec.weights} <= set(tags.names())
            assert set(stage.spec.candidate_sources()) <= set(tags.names())
