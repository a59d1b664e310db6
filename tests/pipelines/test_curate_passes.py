"""Curate's two passes (pipelines/curate_passes.py): decisions land on the right documents, a failing item
publishes nothing, reruns are byte-identical, and no shuffle or side input ever carries a text."""
import dataclasses
import json
import pathlib
import re

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.coders import registry
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import curate, decisions
from pipelines.document import Document
from pipelines.sources import FAMILIES
from tests.pipelines import curate_fixture


class CollidingIds:
    """A slimpajama stand-in whose ids restart in every file ("id<line>"), as some real exports do."""
    SOURCE = "text"
    PATTERNS = ("*.jsonl",)

    @staticmethod
    def parse(stream, name, limits=None):
        for lineno, line in enumerate(stream.read().decode("utf-8").splitlines()):
            yield Document(f"id{lineno}", "text", json.loads(line)["text"],
                           {"redpajama_set_name": "RedPajamaWikipedia", "file": name})


def _write(folder: pathlib.Path, name: str, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def _rows(out: pathlib.Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(out.glob(f"{kind}/text/part-*.parquet")):
        rows += [dict(r, shard=path.name) for r in pq.read_table(path).to_pylist()]
    return rows


def _run(raw: pathlib.Path, out: pathlib.Path) -> dict:
    return curate.run(["--input", str(raw), "--output", str(out), "--sources", "slimpajama", "--no-langid"])


@pytest.fixture
def colliding(tmp_path, monkeypatch):
    monkeypatch.setitem(FAMILIES, "slimpajama", dataclasses.replace(FAMILIES["slimpajama"], reader=CollidingIds))
    alpha, beta, gamma = curate_fixture._prose(3)
    raw = tmp_path / "raw" / "slimpajama"
    # a.jsonl: id0 alpha, id1 beta, id2 gamma | b.jsonl: id0 beta (exact copy of a's id1),
    # id1 near copy of gamma, id2 gamma again (an exact copy of a's id2 AND a near copy of b's id1).
    _write(raw, "a.jsonl", [alpha, beta, gamma])
    _write(raw, "b.jsonl", [beta, curate_fixture.near_copy(gamma), gamma])
    return tmp_path, (alpha, beta, gamma)


def test_decisions_follow_place_not_id_when_ids_collide(colliding):
    tmp, (alpha, beta, gamma) = colliding
    report = _run(tmp / "raw", tmp / "out")
    kept, rejected = _rows(tmp / "out", "kept"), _rows(tmp / "out", "rejected")
    a, b = "part-00000-of-00002.parquet", "part-00001-of-00002.parquet"   # items by sorted file name
    got = {(r["shard"], r["id"], r["text"]) for r in kept}
    # beta: both copies are "id?": b's has id0 < a's id1, so b's copy stays, and a's id0 (alpha) is untouched.
    assert (a, "id0", alpha) in got and (b, "id0", beta) in got and (a, "id1", beta) not in got
    # gamma: a's id2 and b's id2 are exact copies with equal ids (their places break the tie), and both are
    # near copies of b's id1 (smaller id: kept). The exact loser is exact AND near: exact wins, counted once;
    # the other copy is a near duplicate of id1.
    reasons = {(r["shard"], r["id"]): r["reason"] for r in rejected}
    assert reasons[(a, "id1")] == "exact_duplicate: id0"
    assert sorted([reasons[(a, "id2")], reasons[(b, "id2")]]) == ["exact_duplicate: id2", "near_duplicate: id1"]
    assert (b, "id1", curate_fixture.near_copy(gamma)) in got
    assert len(kept) + len(rejected) == 6
    row = report["sources"]["text"]
    assert (row["in"], row["kept"], row["exact_duplicates"], row["near_duplicates"]) == (6, 3, 2, 1)
    assert row["invariant_ok"]


def test_rerun_is_byte_identical_and_in_input_order(colliding):
    tmp, _ = colliding
    _run(tmp / "raw", tmp / "out")
    first = {p.name: p.read_bytes() for p in (tmp / "out").glob("*/text/part-*")}
    _run(tmp / "raw", tmp / "out")
    again = {p.name: p.read_bytes() for p in (tmp / "out").glob("*/text/part-*")}
    assert first == again and len(first) == 2
    assert not list((tmp / "out").glob(".curate-spill*")) and not list((tmp / "out").glob("*/text/.part-*"))
    for kind in ("kept", "rejected"):
        for path in (tmp / "out" / kind / "text").glob("part-*"):
            ids = [r["id"] for r in pq.read_table(path).to_pylist()]
            assert ids == sorted(ids), (kind, path.name)   # id<line>: input order


def test_a_work_item_failing_in_pass_2_publishes_nothing(colliding, monkeypatch):
    tmp, _ = colliding
    real = decisions.apply

    def failing(candidates, rejects, losers):
        for kind, row, dedup in real(candidates, rejects, losers):
            if "b.jsonl" in row["meta"]:
                raise OSError(28, "No space left on device")
            yield kind, row, dedup
    monkeypatch.setattr(decisions, "apply", failing)
    with pytest.raises(Exception, match="No space left"):
        _run(tmp / "raw", tmp / "out")
    out = tmp / "out"
    assert not list(out.glob("*/*/part-*.parquet")) and not (out / "report.json").exists()
    assert not (out / ".curate-spill").exists()
    monkeypatch.setattr(decisions, "apply", real)
    report = _run(tmp / "raw", tmp / "out")   # the next run cleans the failed one's temporaries
    assert report["invariant_ok"] and not list(out.glob("*/*/.part-*"))


MARKER = "zqxmarker"


class _NoText(beam.DoFn):
    """Fails the job if an element entering a shuffle or side input holds a document's text."""

    def __init__(self, where: str):
        self.where = where
        self.seen = beam.metrics.Metrics.counter("probe", "elements")

    def process(self, element):
        self.seen.inc()
        if MARKER.encode() in registry.get_coder(object).encode(element):
            raise AssertionError(f"{self.where} carries a document's text")
        return []


def _probe_shuffles(p) -> int:
    """Attach a _NoText probe to the input of every GroupByKey and every side input of the graph."""
    from benchmarks.shuffle_probe import shuffle_inputs

    targets = shuffle_inputs(p)
    for i, (label, pcoll) in enumerate(targets):
        _ = pcoll | f"Probe {i}" >> beam.ParDo(_NoText(label))
    return len(targets)


def test_no_shuffle_or_side_input_carries_a_text(tmp_path):
    """slimpajama, stack (Parquet row groups), commits: texts carry MARKER; duplicates make candidate groups."""
    prose = [f"{t} {MARKER}" for t in curate_fixture._prose(4)]
    _write(tmp_path / "raw" / "slimpajama", "a.jsonl", prose + [prose[0], curate_fixture.near_copy(prose[1])])
    root = tmp_path / "raw"
    curate_fixture.build_root(tmp_path / "fixture")
    for family in ("stack", "commits"):
        src = tmp_path / "fixture" / family
        for path in src.rglob("*"):
            if path.is_file():
                dst = root / family / path.relative_to(src)
                dst.parent.mkdir(parents=True, exist_ok=True)
                data = path.read_bytes()
                dst.write_bytes(data)
    cfg = dataclasses.replace(curate.CurateConfig(), filters=curate_fixture.FIXTURE_FILTERS)
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    curate.build_pipeline(p, str(root), str(tmp_path / "out"), ["slimpajama", "stack", "commits"], cfg)
    assert _probe_shuffles(p) >= 10
    result = p.run()
    result.wait_until_finish()
    from apache_beam.metrics.metric import MetricsFilter
    seen = sum(c.committed for c in result.metrics().query(MetricsFilter().with_namespace("probe"))["counters"])
    counters = {c.key.metric.name: c.committed for c in
                result.metrics().query(MetricsFilter().with_namespace("curate"))["counters"]}
    assert seen > 0 and counters.get("text/exact_duplicates") == 1 and counters.get("text/near_duplicates") == 1


def _marked_posts(path: pathlib.Path, target_bytes: int) -> bytes:
    """A generated Posts.xml (benchmarks/posts_corpus.py: real sample threads, answers far from their
    question, same-base threads near duplicates) whose titles and bodies all carry MARKER."""
    from benchmarks.posts_corpus import write_posts
    write_posts(str(path), target_bytes)
    data = path.read_bytes().replace(b"variant", MARKER.encode() + b" variant")
    path.write_bytes(data)
    return data


def test_no_shuffle_or_side_input_carries_a_stackexchange_text(tmp_path):
    """Stack Exchange: rows of one thread far apart in the file, row rejects (a wiki post, a malformed
    row) and a file refused for DTD markup after its first rows all carry MARKER; none of it may enter a
    GroupByKey or side input (only spans, file names, offsets and reasons do)."""
    from apache_beam.metrics.metric import MetricsFilter

    site = tmp_path / "raw" / "stackexchange" / "a.example.com" / "Posts.xml"
    site.parent.mkdir(parents=True)
    data = _marked_posts(site, 150_000)
    first = next(line for line in data.split(b"\n") if b'PostTypeId="1"' in line)
    copies = b"".join(re.sub(rb'Id="\d+"', b'Id="%d"' % i, first, count=1) + b"\n" for i in (999003, 999004))
    extra = (f'  <row Id="999001" PostTypeId="5" Body="wiki {MARKER}" />\n'
             f'  <row Id="999002" PostTypeId="1" Body="{MARKER} &undefined;" />\n').encode() + copies
    site.write_bytes(data.replace(b"</posts>", extra + b"</posts>"))
    refused = tmp_path / "raw" / "stackexchange" / "b.example.com" / "Posts.xml"
    refused.parent.mkdir(parents=True)
    lines = data.split(b"\n")
    refused.write_bytes(b"\n".join(lines[:5] + [b'<!ENTITY x SYSTEM "file:///etc/passwd">'] + lines[5:]))
    cfg = dataclasses.replace(curate.CurateConfig(), filters=curate_fixture.FIXTURE_FILTERS, num_shards=3)
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    curate.build_pipeline(p, str(tmp_path / "raw"), str(tmp_path / "out"), ["stackexchange"], cfg)
    assert _probe_shuffles(p) >= 8
    result = p.run()
    result.wait_until_finish()
    seen = sum(c.committed for c in result.metrics().query(MetricsFilter().with_namespace("probe"))["counters"])
    counters: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace("curate"))["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed   # summed over steps
    rows = {k.split("/rows/")[1]: v for k, v in counters.items() if "/rows/" in k}
    assert seen > 0 and counters.get("stackexchange/exact_duplicates") == 1   # the two answerless copies
    assert rows["rejected"] == 2 and rows["in_refused_files"] == data.count(b"<row ") + 1   # + the DTD
    assert rows["in"] == rows["in_threads"] + rows["rejected"] + rows["in_refused_files"]


def test_stackexchange_rerun_is_byte_identical(tmp_path):
    """Thread buckets as work items: same Posts.xml and flags -> the same shard names and bytes, rows of a
    thread far apart in the file (answers 200 threads after their question), 3 buckets."""
    site = tmp_path / "raw" / "stackexchange" / "a.example.com" / "Posts.xml"
    site.parent.mkdir(parents=True)
    _marked_posts(site, 120_000)
    outs = [tmp_path / "one", tmp_path / "two"]
    for out in outs:
        report = curate.run(["--input", str(tmp_path / "raw"), "--output", str(out), "--sources", "stackexchange",
                             "--no-langid", "--num-shards", "3"])
        assert report["invariant_ok"] and report["sources"]["stackexchange"]["kept"] > 100
    names = sorted(str(p.relative_to(outs[0])) for p in outs[0].glob("*/stackexchange/part-*.parquet"))
    assert names == sorted(str(p.relative_to(outs[1])) for p in outs[1].glob("*/stackexchange/part-*.parquet"))
    assert [n for n in names if n.startswith("kept/")] == [f"kept/stackexchange/part-0000{i}-of-00003.parquet"
                                                           for i in range(3)]
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_the_probe_catches_a_text_in_a_shuffle():
    """The same probe on the old design (documents grouped by text hash) fails: the check can fail."""
    from pipelines.dedup.transforms import ExactDedup
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    _ = p | beam.Create([Document("a", "text", f"some words {MARKER}")]) | ExactDedup()
    _probe_shuffles(p)
    with pytest.raises(Exception, match="carries a document's text"):
        p.run().wait_until_finish()


def test_band_fingerprints_equal_iff_rows_equal_within_scope():
    import numpy as np
    from pipelines.dedup import minhash
    cfg = minhash.MinHashConfig(bands=25, rows=10)
    texts = curate_fixture._prose(2)
    sigs = minhash.signatures([texts[0], texts[0], texts[1], ""], cfg)
    fp = decisions.band_fingerprints(sigs, ["text", "code", "text", "text"], cfg)
    assert (fp[0] != fp[1]).all()                  # same rows, other scope
    assert (fp[3] == decisions.NO_BAND).all() and not (fp[:3] == decisions.NO_BAND).any()
    again = decisions.band_fingerprints(sigs[[0]], ["text"], cfg)
    assert np.array_equal(again[0], fp[0])
    groups = list(decisions.colliding([("r1", fp[:, 0]), ("r2", fp[[0], 0])], skip=int(decisions.NO_BAND)))
    assert groups == [[("r1", 0), ("r2", 0)]]
    assert decisions.exact_digest("text", "a  b\n") == decisions.exact_digest("text", "a b")
    assert decisions.exact_digest("text", "a b") != decisions.exact_digest("code", "a b")


def test_gcs_output_with_glob_characters(colliding, gcs_emulator):
    """Spills, temporaries and the publish rename all work on gs://, names taken literally."""
    import uuid

    from tokens import paths
    tmp, _ = colliding
    base = f"gs://{gcs_emulator}/two-pass-{uuid.uuid4().hex[:8]}"
    local = _run(tmp / "raw", tmp / "out")
    remote = curate.run(["--input", str(tmp / "raw"), "--output", f"{base}/out[1]", "--sources", "slimpajama",
                         "--no-langid"])
    assert remote["sources"] == local["sources"] and remote["invariant_ok"]
    for kind in ("kept", "rejected"):
        names = paths.list_dir(f"{base}/out[1]/{kind}/text")
        assert names == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
        for name in names:
            with paths.open_read(f"{base}/out[1]/{kind}/text/{name}") as f:
                assert f.read() == (tmp / "out" / kind / "text" / name).read_bytes()
    assert paths.list_dir(f"{base}/out[1]/.curate-spill") == [] and paths.list_dir(f"{base}/out1") == []


def test_union_find_and_label_rounds_agree_on_a_chain_of_near_duplicates(colliding, tmp_path):
    """Windows of one word sequence shifted by 35 words: each overlaps the next (Jaccard ~0.84) while the
    first and last are far apart (~0.58), so the component is a chain. Both component modes keep only its
    smallest id and name it in every reason."""
    words = " ".join(curate_fixture._prose(3)).split()[:520]
    chain = [" ".join(words[s:s + 400]) for s in (0, 35, 70, 105)]
    raw = tmp_path / "chain" / "slimpajama"
    _write(raw, "a.jsonl", chain)
    got = {}
    for mode in ("union-find", "rounds"):
        out = tmp_path / f"out-{mode}"
        curate.run(["--input", str(raw.parent), "--output", str(out), "--sources", "slimpajama", "--no-langid",
                    "--components", mode])
        got[mode] = ([r["id"] for r in _rows(out, "kept")], [(r["id"], r["reason"]) for r in _rows(out, "rejected")])
    assert got["union-find"] == got["rounds"]
    assert got["union-find"] == (["id0"], [("id1", "near_duplicate: id0"), ("id2", "near_duplicate: id0"),
                                           ("id3", "near_duplicate: id0")])


def test_a_truncated_keys_file_is_an_error_not_a_guess(tmp_path):
    from pipelines import spill
    path = tmp_path / "x.keys.bin"
    row = spill.key_row(b"d" * 32, [7] * 4)
    path.write_bytes(row * 2 + row[:-1])
    assert spill.read_keys(str(path), [1, 0], len(row)) == {0: row, 1: row}
    with pytest.raises(RuntimeError, match="truncated"):
        spill.read_keys(str(path), [2], len(row))
