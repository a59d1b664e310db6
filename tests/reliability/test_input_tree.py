"""The input tree as users and attackers lay it out: glob characters in --input (13.1, input side),
symlinks that leave --input (13.2), files in subfolders (13.7).

Each test runs the real readers (ReadFamily on the DirectRunner, or `pipelines.curate.run`) over a
small tree written into tmp_path; every case here failed on main at 00f01f7.
"""
from __future__ import annotations

import json
import os
import pathlib

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines import curate
from pipelines.sources.read import ReadFamily
from tests.pipelines.sources import corpus

TEXT_A = "Alpha document from the folder that was named on the command line."
TEXT_B = "Beta document from a sibling folder that only a glob would reach."


def _math(folder: pathlib.Path, name: str, texts: list[str]) -> None:
    (folder / "math").mkdir(parents=True, exist_ok=True)
    (folder / "math" / name).write_bytes(corpus.jsonl([{"text": t} for t in texts]))


def _row(record) -> str:
    return json.dumps({"kind": type(record).__name__, "text": record.text, "meta": record.meta,
                       "reason": getattr(record, "reason", None), "stage": getattr(record, "stage", None)})


def _read_records(root: pathlib.Path, family: str) -> list[dict]:
    """Every record ReadFamily (the reader curate uses) produces for `family` under `root`."""
    out = root.parent / f"records-{family}"
    with beam.Pipeline() as p:
        (p | ReadFamily(family, str(root)) | beam.Map(_row)
         | beam.io.WriteToText(str(out / "part"), file_name_suffix=".jsonl"))
    rows = [json.loads(line) for path in sorted(out.glob("part*.jsonl")) for line in path.read_text().splitlines()]
    for path in out.glob("*"):
        path.unlink()
    out.rmdir()
    return rows


@pytest.mark.parametrize("literal,sibling", [("cur[1]", "cur1"), ("c*r", "cXr"), ("c?r", "c_r"),
                                             ("in put [a-z]", "in put b")])
def test_glob_characters_in_input_are_literal(tmp_path, literal, sibling):
    """13.1: `--input 'cur[1]'` read the sibling `cur1`; user paths are never glob-expanded."""
    _math(tmp_path / literal, "a.jsonl", [TEXT_A])
    _math(tmp_path / sibling, "b.jsonl", [TEXT_B])
    assert [r["text"] for r in _read_records(tmp_path / literal, "math")] == [TEXT_A]
    assert curate.present_families(str(tmp_path / literal)) == ["math"]


def test_glob_characters_in_input_through_curate(tmp_path):
    """The same through the whole job: kept/ holds only the literal folder's document."""
    _math(tmp_path / "cur[1]", "a.jsonl", [TEXT_A + " " + "More words here. " * 10])
    _math(tmp_path / "cur1", "b.jsonl", [TEXT_B + " " + "More words here. " * 10])
    report = curate.run(["--input", str(tmp_path / "cur[1]"), "--output", str(tmp_path / "out"), "--no-langid"])
    assert report["sources"]["math"]["in"] == 1
    kept = pq.read_table(next((tmp_path / "out" / "kept" / "math").glob("part-*.parquet"))).to_pylist()
    assert [r["text"].split(" More")[0] for r in kept] == [TEXT_A]


# ---------------------------------------------------------------- 13.2 symlinks

SECRET = "TOP-SECRET-LINE: root only, outside the input tree"


@pytest.fixture()
def linked_tree(tmp_path):
    """ROOT/math with links out of the tree (file, 0600 file, directory, chain) and one inside it."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    secret = outside / "secret.jsonl"
    secret.write_text(json.dumps({"text": SECRET}) + "\n")
    os.chmod(secret, 0o600)
    (outside / "dir" / "x.jsonl").write_text(json.dumps({"text": SECRET + " (in a linked folder)"}) + "\n")
    root = tmp_path / "root"
    math = root / "math"
    math.mkdir(parents=True)
    (math / "real.jsonl").write_text(json.dumps({"text": TEXT_A}) + "\n")
    (math / "passwd.jsonl").symlink_to("/etc/passwd")
    (math / "secret.jsonl").symlink_to(secret)
    (math / "linked_dir").symlink_to(outside / "dir", target_is_directory=True)
    (math / "chain2.jsonl").symlink_to(secret)                # inside -> outside
    (math / "chain1.jsonl").symlink_to(math / "chain2.jsonl")  # inside -> inside -> outside
    (math / "alias.jsonl").symlink_to(math / "real.jsonl")    # inside -> inside: fine
    (math / "sub").mkdir()
    (math / "sub" / "up.jsonl").symlink_to("../real.jsonl")   # relative, stays inside: fine
    return root


OUTSIDE_LINKS = {"math/passwd.jsonl", "math/secret.jsonl", "math/linked_dir", "math/chain1.jsonl",
                 "math/chain2.jsonl"}


def test_symlinks_out_of_the_input_are_rejected_unread(linked_tree):
    records = _read_records(linked_tree, "math")
    rejected = [r for r in records if r["kind"] == "Rejected"]
    assert sorted(r["meta"]["path"] for r in rejected) == sorted(OUTSIDE_LINKS)
    assert {r["reason"] for r in rejected} == {"symlink_outside_input"}
    assert {r["text"] for r in rejected} == {""}                      # none of their bytes read
    docs = sorted((r["meta"]["file"], r["text"]) for r in records if r["kind"] == "Document")
    assert docs == [("math/alias.jsonl", TEXT_A), ("math/real.jsonl", TEXT_A), ("math/sub/up.jsonl", TEXT_A)]
    assert not any(SECRET in r["text"] or "root:" in r["text"] for r in records)


def test_symlinks_out_of_the_input_through_curate(linked_tree, tmp_path):
    """End to end: rejected/ names every link, no byte of /etc/passwd or the secret anywhere in the output."""
    out = tmp_path / "out"
    report = curate.run(["--input", str(linked_tree), "--output", str(out), "--no-langid"])
    row = report["sources"]["math"]
    assert row["rejected"].get("symlink_outside_input") == len(OUTSIDE_LINKS) and row["invariant_ok"]
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert SECRET.encode() not in blob and b"root:x:0:0" not in blob


# ---------------------------------------------------------------- 13.7 subfolders

def test_hugging_face_and_slimpajama_layouts_are_read_recursively(tmp_path):
    """The Stack as published (`data/<language>/train-*.parquet`) and SlimPajama's `train/chunkN/`."""
    root = tmp_path / "raw"
    rows = [corpus.stack_row(i, content=f"def f{i}(x):\n    return x * {i} + 1\n") for i in range(3)]
    for lang in ("python", "javascript"):
        folder = root / "stack" / "data" / lang
        folder.mkdir(parents=True)
        (folder / "train-00000-of-00001.parquet").write_bytes(corpus.stack_parquet(
            [{**r, "max_stars_repo_name": f"{lang}/{r['max_stars_repo_name']}"} for r in rows]))
    chunk = root / "slimpajama" / "train" / "chunk1"
    chunk.mkdir(parents=True)
    (chunk / "example_train_0.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(corpus.jsonl(
        [{"text": f"Web page number {i} about gardening.", "meta": {"redpajama_set_name": "RedPajamaC4"}}
         for i in range(4)])))
    assert curate.present_families(str(root)) == ["slimpajama", "stack"]
    stack = _read_records(root, "stack")
    assert len(stack) == 6 and {r["meta"]["file"] for r in stack} == {
        "stack/data/python/train-00000-of-00001.parquet", "stack/data/javascript/train-00000-of-00001.parquet"}
    assert len(_read_records(root, "slimpajama")) == 4


def test_a_family_folder_whose_files_match_no_pattern_fails_the_job(tmp_path):
    root = tmp_path / "raw"
    (root / "stack" / "data" / "python").mkdir(parents=True)
    (root / "stack" / "data" / "python" / "train-00000.csv").write_text("content,lang\nx,Python\n")
    _math(root, "a.jsonl", [TEXT_A])
    with pytest.raises(SystemExit) as err:
        curate.run(["--input", str(root), "--output", str(tmp_path / "out"), "--no-langid"])
    message = str(err.value)
    assert str(root / "stack") in message and "*.parquet" in message and "1 file" in message
