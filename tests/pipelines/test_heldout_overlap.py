"""The held-out split keeps no near-duplicates of what trains (defect 8: 96% of the 32-token windows of one
instruct held-out document occurred in training shards)."""
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import heldout_overlap, tokenize
from tests.pipelines.curated_sample import publish_completion, train_tokenizer
from tokens.manifest import load_manifest
from tokens.source import TokenizedSource

WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud field bright "
         "quiet rapid small large green blue read write build test parse merge split").split()


def _text(rng, n=160):
    return " ".join(rng.choice(WORDS, n)) + "."


def _corpus(root):
    """60 documents: 20 unique, 20 originals each with a near-duplicate twin (one sentence appended)."""
    rng = np.random.default_rng(0)
    rows = [{"id": f"unique-{i}", "text": _text(rng)} for i in range(20)]
    for i in range(20):
        body = _text(rng)
        rows += [{"id": f"original-{i}", "text": body},
                 {"id": f"twin-{i}", "text": body + " And one more closing sentence here."}]
    directory = os.path.join(root, "curated", "kept", "text")
    os.makedirs(directory)
    table = pa.table({"id": [r["id"] for r in rows], "source": ["text"] * len(rows),
                      "text": [r["text"] for r in rows], "meta": ["{}"] * len(rows)})
    pq.write_table(table, os.path.join(directory, "part-00000-of-00001.parquet"))
    publish_completion(os.path.join(root, "curated"))   # what a finished curate run writes last
    with open(os.path.join(root, "tokenizer.model"), "wb") as f:
        f.write(train_tokenizer({"text": rows}, 300))
    return rows


def _heldout_ids(out, tok):
    held = TokenizedSource(load_manifest(os.path.join(out, "text", "manifest.json")).heldout_manifest())
    return [tok.decode(held[i][:-1]) for i in range(len(held))]


def test_window_hashes_are_distinct_runs_of_32():
    ids = np.arange(40)
    assert len(heldout_overlap.window_hashes(ids)) == 9 and len(heldout_overlap.window_hashes(ids[:31])) == 0
    assert len(heldout_overlap.window_hashes(np.tile(np.arange(4), 20))) == 4          # repeats counted once


def test_near_duplicates_of_training_documents_are_not_held_out(tmp_path):
    from tokens.tokenizer import Tokenizer

    rows = _corpus(str(tmp_path))
    args = ["--input", str(tmp_path / "curated"), "--tokenizer", str(tmp_path / "tokenizer.model"),
            "--num-shards", "1", "--heldout-min-documents", "6"]
    tok = Tokenizer.load(str(tmp_path / "tokenizer.model"))
    by_text = {r["text"]: r["id"] for r in rows}

    tokenize.run(args + ["--output", str(tmp_path / "off"), "--heldout-max-overlap", "1"])   # the rule off
    before = heldout_overlap.measure(str(tmp_path / "off"))["text"]
    tokenize.run(args + ["--output", str(tmp_path / "on")])
    after = heldout_overlap.measure(str(tmp_path / "on"))["text"]
    held = [by_text[t] for t in _heldout_ids(str(tmp_path / "on"), tok)]

    assert before["fraction"] > 0.1                  # by id alone, held-out originals/twins are in training
    assert after["fraction"] <= 0.01 and after["heldout_documents"] == len(held) == 6
    assert all(i.startswith("unique-") for i in held)
    manifest = load_manifest(str(tmp_path / "on" / "text" / "manifest.json"))
    assert manifest.documents + len(held) == len(rows)                                  # nothing lost
    assert manifest.heldout_rule["max_overlap"] == 0.01
