"""Issue 13.1, output side: user paths are literal, and a job deletes only files it wrote itself.

Every odd output folder here sits next to a sibling that its name matches as a glob (`out[1]`
matches `out1`); the sibling holds files under exactly the names the job publishes. On 00f01f7
curate deleted the sibling's shards and crashed in Beam's FinalizeWrite, tokenize deleted the
sibling's stale-named shards and its manifest, train_tokenizer deleted and read the sibling's sample.
Also: the conservation check reconciles the counted documents with the rows actually written.
"""
from __future__ import annotations

import json
import os
import re
import uuid

import pyarrow.parquet as pq
import pytest

from pipelines import curate, tokenize
from tokens import paths
from pipelines.report import funnel
from tests.reliability.stages import curated_and_tokenizer, tokenize_args


def _tree(root) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(d, n), root): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(root) for n in names}


def _published(tokens) -> dict[str, str]:
    """Like stages.published_sources, over a literal local folder: source -> problem ('' when complete)."""
    return {s: _open_problem(os.path.join(str(tokens), s)) for s in sorted(os.listdir(tokens))}


def _open_problem(folder: str) -> str:
    from tokens.source import TokenizedSource
    try:
        with TokenizedSource.open(os.path.join(folder, "manifest.json"), verify=True) as src:
            src.lengths()
        return ""
    except Exception as e:  # noqa: BLE001 - the problem is the report
        return f"{type(e).__name__}: {e}"


def _math_root(root, n: int = 12) -> None:
    (root / "math").mkdir(parents=True)
    lines = [json.dumps({"id": f"m{i}", "text": f"Problem {i}: add the first {i} odd numbers and show that the "
                         f"sum is a square; explain each of the {i} steps for a reader who checks them."})
             for i in range(n)]
    (root / "math" / "a.jsonl").write_text("\n".join(lines) + "\n")


def _curate_sibling(base) -> dict[str, bytes]:
    """out1/ as an earlier curate run left it (the names matter, not the bytes)."""
    for kind in ("kept", "rejected"):
        (base / "out1" / kind / "math").mkdir(parents=True)
        (base / "out1" / kind / "math" / "part-00000-of-00001.parquet").write_bytes(f"out1 {kind}".encode())
    (base / "out1" / "report.json").write_text("{}")
    return _tree(base / "out1")


def _rows(folder) -> list[dict]:
    return [r for n in sorted(os.listdir(folder)) if n.endswith(".parquet")
            for r in pq.read_table(os.path.join(folder, n)).to_pylist()]


def test_curate_output_with_glob_characters_spaces_and_dotdot(tmp_path):
    _math_root(tmp_path / "in")   # input paths are the readers' side of 13.1
    sibling = _curate_sibling(tmp_path)
    (tmp_path / "runs [1]").mkdir()
    out = os.path.join(str(tmp_path), "runs [1]", "..", "out[1]")
    report = curate.run(["--input", str(tmp_path / "in"), "--output", out, "--no-langid"])
    assert _tree(tmp_path / "out1") == sibling                      # the sibling is untouched
    assert report["invariant_ok"] and report["sources"]["math"]["kept"] == 12
    assert len(_rows(tmp_path / "out[1]" / "kept" / "math")) == 12
    assert json.loads((tmp_path / "out[1]" / "report.json").read_text())["sources"]["math"]["written"] == \
        {"kept": 12, "rejected": 0}
    assert not [n for n in os.listdir(tmp_path / "out[1]" / "kept" / "math") if n.startswith("beam-temp")]


@pytest.mark.slow
def test_curate_into_a_symlinked_output_folder(tmp_path):
    """OUTPUT is a symlink (to a bigger disk, say) whose name matches a sibling as a glob."""
    _math_root(tmp_path / "in")
    sibling = _curate_sibling(tmp_path)
    (tmp_path / "disk two").mkdir()
    os.symlink(tmp_path / "disk two", tmp_path / "out?")
    report = curate.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out?"), "--no-langid"])
    assert _tree(tmp_path / "out1") == sibling
    assert report["invariant_ok"] and len(_rows(tmp_path / "disk two" / "kept" / "math")) == 12
    assert (tmp_path / "out?").is_symlink()


def test_curate_fails_when_a_writer_loses_a_row(tmp_path, monkeypatch):
    """A Parquet writer that silently drops rows must break the conservation check, not balance it."""
    from pipelines import spill
    add = spill.ShardWriters.add

    def lossy(self, key, row):                  # the first row of every shard never reaches the file,
        seen = self.__dict__.setdefault("_lossy_seen", set())   # and nothing says so
        if key in seen:
            add(self, key, row)
        seen.add(key)

    monkeypatch.setattr(spill.ShardWriters, "add", lossy)
    _math_root(tmp_path / "in")
    with pytest.raises(funnel.InvariantError, match="rows"):
        curate.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--no-langid"])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert not report["invariant_ok"] and report["sources"]["math"]["written"]["kept"] < 12
    assert not (tmp_path / "out" / "funnel.png").exists()


# ------------------------------------------------------------------------------------------ tokenize

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("outpaths")
    curated_and_tokenizer(root, per_source=5)
    return root


def test_tokenize_output_with_glob_characters_leaves_sibling_alone(corpus, tmp_path):
    """tok1 holds a complete 3-shard run; `tok[1]` is tokenized with 3 shards, then rerun with 2 (its
    3-shard files are now stale and its manifest is retracted first): only tok[1]'s own files go."""
    tokenize.run(tokenize_args(corpus, tmp_path / "tok1", 3))
    sibling = _tree(tmp_path / "tok1")
    tokenize.run(tokenize_args(corpus, tmp_path / "tok[1]", 3))
    tokenize.run(tokenize_args(corpus, tmp_path / "tok[1]", 2))
    assert _tree(tmp_path / "tok1") == sibling
    assert _published(tmp_path / "tok1") == {"code": "", "markup": "", "text": ""}
    for source in ("code", "markup", "text"):
        assert _own_names(os.listdir(tmp_path / "tok[1]" / source)) == TWO_SHARDS


TWO_SHARDS = ["manifest.json", "part-00000-of-00002.array_record", "part-00000-of-00002.lengths",
              "part-00001-of-00002.array_record", "part-00001-of-00002.lengths"]


def _own_names(names) -> list[str]:
    """The manifest and training shards; held-out shards (same count, their own prefix) are checked for count only."""
    held = [n for n in names if n.startswith("heldout-")]
    assert all(re.match(r"^heldout-\d{5}-of-\d{5}\.(array_record|lengths)$", n) for n in held), held
    return sorted(n for n in names if not n.startswith("heldout-"))


def test_tokenize_through_a_symlink_with_spaces_and_dotdot(corpus, tmp_path):
    """OUTPUT = 'link [1]/../tok out' where 'link [1]' is a symlink: the kernel's path, nothing else."""
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link [1]")
    out = os.path.join(str(tmp_path), "link [1]", "..", "tok out")   # resolves to tmp_path/tok out
    tokenize.run(tokenize_args(corpus, out, 2))
    assert sorted(os.listdir(tmp_path / "tok out")) == ["code", "markup", "text"]
    assert _published(tmp_path / "tok out") == {"code": "", "markup": "", "text": ""}
    assert os.listdir(tmp_path / "real") == []


def test_tokenize_stale_cleanup_spares_files_that_appear_during_the_run(corpus, tmp_path, monkeypatch):
    """Stale candidates are listed before the job writes: a shard of another shard count that appears
    while the job runs (another job's) is not deleted by this one."""
    from tokens import shards

    out = tmp_path / "tok"
    real, planted = shards.write_shard, []

    def write_and_plant(path, records):
        n = real(path, records)
        if not planted:   # during the run, "another job" drops a file of our naming pattern
            other = os.path.join(os.path.dirname(path), "part-00007-of-00009.array_record")
            with open(other, "wb") as f:
                f.write(b"not ours")
            planted.append(other)
        return n

    monkeypatch.setattr(shards, "write_shard", write_and_plant)
    tokenize.run(tokenize_args(corpus, out, 2))
    assert planted and open(planted[0], "rb").read() == b"not ours"


@pytest.mark.gcs
def test_tokenize_to_gcs_with_glob_characters(corpus, gcs_emulator):
    """Beam's gs:// delete matches its argument as a glob: retracting gs://b/tok[1]/x/manifest.json
    deleted gs://b/tok1/x/manifest.json. Nothing under the sibling prefix may change."""
    from google.cloud import storage

    base = f"gs://{gcs_emulator}/lit-{uuid.uuid4().hex[:8]}"
    for path in sorted(p for p in (corpus / "curated").rglob("*") if p.is_file()):
        paths.write_atomic(f"{base}/curated/{path.relative_to(corpus / 'curated').as_posix()}", path.read_bytes())
    args = ["--input", f"{base}/curated", "--tokenizer", str(corpus / "tok" / "tokenizer.model")]
    tokenize.run(args + ["--output", f"{base}/tok1", "--num-shards", "3"])
    bucket = storage.Client.create_anonymous_client().bucket(gcs_emulator)
    prefix = base.split("/", 3)[3]

    def objects(name):
        return {b.name: b.md5_hash for b in bucket.list_blobs(prefix=f"{prefix}/{name}/")}

    sibling = objects("tok1")
    tokenize.run(args + ["--output", f"{base}/tok[1]", "--num-shards", "3"])
    tokenize.run(args + ["--output", f"{base}/tok[1]", "--num-shards", "2"])
    assert objects("tok1") == sibling
    assert _own_names([n.rsplit("/", 1)[1] for n in objects("tok[1]") if "/code/" in n]) == TWO_SHARDS


# ------------------------------------------------------------------------------------ train_tokenizer

@pytest.mark.slow
def test_train_tokenizer_output_with_glob_characters(corpus, tmp_path):
    """A crashed run of tok1 left its sample; training into `tok[1]` must neither delete nor read it:
    the model equals one trained into a plain folder."""
    from pipelines import train_tokenizer

    sample = tmp_path / "tok1" / train_tokenizer.SAMPLE_DIR
    sample.mkdir(parents=True)
    (sample / "part-00000-of-00001.jsonl").write_text(json.dumps(
        {"key": "0", "id": "x", "source": "code", "text": "SIBLING " * 50}) + "\n")
    (sample / "rates.json").write_text("{}")
    sibling = _tree(tmp_path / "tok1")
    argv = ["--input", str(corpus / "curated"), "--vocab-size", "400"]
    odd = train_tokenizer.run(argv + ["--output", str(tmp_path / "tok[1]")])
    plain = train_tokenizer.run(argv + ["--output", str(tmp_path / "plain")])
    assert _tree(tmp_path / "tok1") == sibling
    assert odd["sources"] == plain["sources"] and odd["sha256"] == plain["sha256"]
    assert not (tmp_path / "tok[1]" / train_tokenizer.SAMPLE_DIR).exists()
