"""The annotated evaluation set: reproducible from its seeded generator, big enough, and scored >= 0.95."""
import importlib.util
import json
import pathlib

import pytest

from benchmarks import pii_eval

DATA = pathlib.Path(__file__).parent / "data"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_eval", DATA / "generate_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("split, seed", [("dev", 1), ("test", 2)])
def test_committed_set_is_what_the_generator_writes(split, seed):
    rows = _generator().make(seed, 300)
    committed = (DATA / f"pii_eval_{split}.jsonl").read_text(encoding="utf-8")
    assert committed == "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


@pytest.mark.parametrize("split", ["dev", "test"])
def test_set_size_spans_and_scores(split):
    rows = pii_eval.load(split)
    for row in rows:   # annotations point inside the text and do not overlap
        marks = sorted((s["start"], s["end"]) for s in row["spans"] + row["lookalikes"])
        assert all(0 <= a < b <= len(row["text"]) for a, b in marks)
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(marks, marks[1:]))
    result = pii_eval.score(rows)
    assert sum(k["gold"] for k in result["kinds"].values()) >= 300 and result["lookalikes"] >= 300
    for kind, k in result["kinds"].items():
        assert k["gold"] >= 50, kind
        assert k["precision"] >= 0.95 and k["recall"] >= 0.95, (kind, k)
    assert result["lookalikes_kept"] >= 0.95
