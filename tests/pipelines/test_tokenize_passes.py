"""The tokenize job's passes (pipelines/tokenize_passes.py): no shuffle or side input carries a document's
text or tokens, shards are contiguous token runs in input order, and a failing shard publishes nothing."""
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.coders import registry
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import tokenize
from pipelines import tokenize_passes as passes
from tests.pipelines.curated_sample import publish_completion, train_tokenizer
from tokens import records, shards
from tokens.tokenizer import Tokenizer

MARKER = "zqxmarker"
RUN = 16   # tokens: a run this long from a document found in a shuffle counts as carrying its tokens

WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud field bright "
         "quiet rapid small large green blue read write build test parse merge split").split()


def _curated(root, files=2, per_file=30):
    """kept/text/ with `files` Parquet files; every text carries MARKER; some near-duplicate pairs."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(files * per_file):
        body = " ".join(rng.choice(WORDS, 120)) + f" {MARKER} {i}."
        rows.append({"id": f"doc-{i:03d}", "text": body})
        if i % 5 == 0:   # a twin: held-out candidates with content elsewhere exercise the overlap rule
            rows[-1]["text"] = rows[-2]["text"] + " twin" if i else body
    folder = os.path.join(root, "curated", "kept", "text")
    os.makedirs(folder)
    for f in range(files):
        part = rows[f * per_file:(f + 1) * per_file]
        table = pa.table({"id": [r["id"] for r in part], "source": ["text"] * len(part),
                          "text": [r["text"] for r in part], "meta": ["{}"] * len(part)})
        pq.write_table(table, os.path.join(folder, f"part-{f:05d}-of-{files:05d}.parquet"), row_group_size=12)
    publish_completion(os.path.join(root, "curated"))
    model = os.path.join(root, "tokenizer.model")
    with open(model, "wb") as out:
        out.write(train_tokenizer({"text": rows}, 400))
    return rows, model


def _config(model, **kw):
    tok = Tokenizer.load(model)
    return tokenize.TokenizeConfig(tokenizer=model, tokenizer_sha256=tok.sha256, vocab_size=tok.vocab_size,
                                   eos_id=tok.eos_id, pad_id=tok.pad_id, num_shards=3, **kw)


def _token_runs(rows, model):
    """A RUN-token slice of every document's ids (EOS appended), as int64."""
    tok = Tokenizer.load(model)
    runs = []
    for row in rows:
        ids = np.array(tok.encode(row["text"]) + [tok.eos_id], np.int64)
        middle = max(0, len(ids) // 2 - RUN // 2)
        runs.append(ids[middle:middle + RUN])
    return runs


def _int_sequences(element):
    """Every integer sequence inside an element (numpy arrays, lists and tuples of ints), as int64 arrays."""
    if isinstance(element, np.ndarray):
        if element.dtype.kind in "iu" and element.ndim == 1:
            yield element.astype(np.int64)
        return
    if isinstance(element, dict):
        element = list(element.items())
    if isinstance(element, (list, tuple)):
        ints = [x for x in element if isinstance(x, (int, np.integer)) and not isinstance(x, bool)]
        if len(ints) >= RUN:
            yield np.array(ints, np.int64)
        for x in element:
            yield from _int_sequences(x)
    elif hasattr(element, "__dict__") and not isinstance(element, type):
        yield from _int_sequences(list(vars(element).values()))


class _NoContent(beam.DoFn):
    """Fails the job if an element entering a shuffle or side input holds a document's text or tokens."""

    def __init__(self, where: str, runs):
        self.where, self.runs = where, runs
        self.seen = beam.metrics.Metrics.counter("probe", "elements")

    def process(self, element):
        self.seen.inc()
        blob = registry.get_coder(object).encode(element)
        if MARKER.encode() in blob:
            raise AssertionError(f"{self.where} carries a document's text")
        for run in self.runs:
            for dtype in (np.uint16, np.int32, np.uint32, np.int64):
                if run.astype(dtype).tobytes() in blob:
                    raise AssertionError(f"{self.where} carries a document's tokens ({np.dtype(dtype).name})")
            packed = records.encode_example(run, "x")[-RUN:]   # the varints of the run's last tokens
            if packed in blob:
                raise AssertionError(f"{self.where} carries a document's serialized record")
            for seq in _int_sequences(element):
                if len(seq) >= RUN and run.tobytes() in seq.tobytes():
                    raise AssertionError(f"{self.where} carries a document's tokens (integer sequence)")
        return []


def _probe(p, runs) -> int:
    from benchmarks.shuffle_probe import shuffle_inputs

    targets = shuffle_inputs(p)
    for i, (label, pcoll) in enumerate(targets):
        _ = pcoll | f"Probe {i}" >> beam.ParDo(_NoContent(label, runs))
    return len(targets)


def _run_probed(p):
    from apache_beam.metrics.metric import MetricsFilter
    result = p.run()
    result.wait_until_finish()
    return sum(c.committed for c in result.metrics().query(MetricsFilter().with_namespace("probe"))["counters"])


def test_no_shuffle_or_side_input_carries_a_text_or_tokens(tmp_path):
    rows, model = _curated(str(tmp_path))
    cfg = _config(model, heldout_min_documents=8)
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    tokenize.build(p, str(tmp_path / "curated"), ["text"], str(tmp_path / "tokens"), cfg, "test", "test")
    assert _probe(p, _token_runs(rows, model)) >= 8
    assert _run_probed(p) > 0
    manifest = tokenize.load_manifest(str(tmp_path / "tokens" / "text"))
    held = manifest.heldout_manifest()
    assert manifest.documents + held.documents == len(rows) and held.documents > 0


@pytest.mark.parametrize("carried", ["record", "tokens"])
def test_the_probe_catches_tokens_in_a_shuffle(tmp_path, carried):
    """The same probe on the old design (encoded records grouped by shard) fails: the check can fail."""
    rows, model = _curated(str(tmp_path), files=1, per_file=3)
    runs = _token_runs(rows, model)
    tok = Tokenizer.load(model)
    ids = np.array(tok.encode(rows[1]["text"]) + [tok.eos_id], np.int32)
    value = records.encode_example(ids, "text") if carried == "record" else ids
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    _ = p | beam.Create([(("text", 0), (b"order", "id", len(ids), value))]) | beam.GroupByKey()
    _probe(p, runs[1:2])
    with pytest.raises(Exception, match="carries a document's"):
        _run_probed(p)


def test_plan_cuts_each_split_into_contiguous_token_runs_in_input_order():
    items = [(("b.parquet", 0), "spill-b0", np.array([5, 5, 5], np.uint32)),
             (("a.parquet", 1), "spill-a1", np.array([10], np.uint32)),
             (("a.parquet", 0), "spill-a0", np.array([4, 6, 2, 8], np.uint32))]
    held = {("s", ("a.parquet", 0)): {1: 6}, ("s", ("b.parquet", 0)): {2: 5}}
    tasks = passes.plan_shards(("s", items), held, lambda split, tokens: 3 if split == "train" else 1)
    by_key = {k: [(path, o.tolist(), n.tolist()) for path, o, n in segs] for k, segs in tasks}
    # train in input order: a0 [4, -, 2, 8] a1 [10] b0 [5, 5, -] = 34 tokens; shard = before * 3 // 34
    assert by_key[("s", "train", 0, 3)] == [("spill-a0", [0, 10, 12], [4, 2, 8])]          # before 0, 4, 6
    assert by_key[("s", "train", 1, 3)] == [("spill-a1", [0], [10])]                        # before 14
    assert by_key[("s", "train", 2, 3)] == [("spill-b0", [0, 5], [5, 5])]                   # before 24, 29
    assert by_key[("s", "heldout", 0, 1)] == [("spill-a0", [4], [6]), ("spill-b0", [10], [5])]
    empty = passes.plan_shards(("s", items[:1]), {}, lambda split, tokens: 4 if split == "train" else 0)
    assert [k for k, _ in empty] == [("s", "train", i, 4) for i in range(4)]               # empty shards listed
    assert [len(segs) for _, segs in empty] == [1, 1, 1, 0]


def test_a_failing_shard_publishes_nothing(tmp_path, monkeypatch):
    rows, model = _curated(str(tmp_path))
    args = ["--input", str(tmp_path / "curated"), "--tokenizer", model, "--output", str(tmp_path / "tokens")]
    tokenize.run(args + ["--num-shards", "2"])
    out = tmp_path / "tokens" / "text"
    before = {n: (out / n).read_bytes() for n in os.listdir(out) if n != "manifest.json"}
    real = passes.read_docs

    def failing(path, lengths, dtype, offsets=None):
        if offsets is not None and int(offsets[0]) > 0:   # pass B, a shard that starts mid-item
            raise OSError(28, "No space left on device")
        return real(path, lengths, dtype, offsets)

    monkeypatch.setattr(passes, "read_docs", failing)
    with pytest.raises(Exception, match="No space left"):
        tokenize.run(args + ["--num-shards", "5"])
    after = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert after == before                       # no shard of 5 published, no temporary left, old ones intact
    assert not (tmp_path / "tokens" / passes.SPILL_FOLDER).exists()
    monkeypatch.setattr(passes, "read_docs", real)
    manifests = tokenize.run(args + ["--num-shards", "5"])
    assert [s.path for s in manifests["text"].shards] == [shards.shard_name(i, 5) for i in range(5)]
    assert sorted(os.listdir(out)) == sorted(["manifest.json"] + [n for i in range(5) for n in (
        shards.shard_name(i, 5), shards.lengths_name(shards.shard_name(i, 5)))] + [
        shards.heldout_name(0, 1), shards.lengths_name(shards.heldout_name(0, 1))])


def test_invalid_rows_are_counted_and_the_rest_keeps_input_order(tmp_path):
    """A null text and an empty id are not encoded; the held-out and training documents keep file order."""
    rows, model = _curated(str(tmp_path), files=1, per_file=20)
    folder = tmp_path / "curated" / "kept" / "text"
    table = pq.read_table(folder / "part-00000-of-00001.parquet").to_pylist()
    table[3]["text"], table[7]["id"], table[9]["source"] = None, "", "elsewhere"
    pq.write_table(pa.Table.from_pylist(table, pq.read_schema(folder / "part-00000-of-00001.parquet")),
                   folder / "part-00000-of-00001.parquet", row_group_size=6)
    publish_completion(str(tmp_path / "curated"))
    manifests = tokenize.run(["--input", str(tmp_path / "curated"), "--tokenizer", model, "--output",
                              str(tmp_path / "tokens"), "--num-shards", "2"])
    from tokens.source import TokenizedSource
    tok = Tokenizer.load(model)
    src = TokenizedSource(manifests["text"])
    held = TokenizedSource(manifests["text"].heldout_manifest())
    texts = [tok.decode(ids[:-1]) for ids in src.iter_source()]
    want = [r["text"] for i, r in enumerate(table) if i not in (3, 7)]
    held_texts = {tok.decode(ids[:-1]) for ids in held.iter_source()}
    assert texts == [t for t in want if t not in held_texts] and len(texts) + len(held_texts) == 18


@pytest.mark.parametrize("extra", [["--heldout-min-documents", "0"], ["--heldout-fraction", "0",
                                                                      "--heldout-min-documents", "0"]])
def test_heldout_minimum_zero_holds_out_by_fraction_only(tmp_path, extra):
    """--heldout-min-documents 0: only ids under the fraction are held out (none at 0: no held-out shards)."""
    rows, model = _curated(str(tmp_path), files=1, per_file=40)
    manifests = tokenize.run(["--input", str(tmp_path / "curated"), "--tokenizer", model, "--output",
                              str(tmp_path / "tokens"), "--num-shards", "1", *extra])
    fraction = 0.0 if "--heldout-fraction" in extra else 0.01
    want = sum(shards.heldout_key(r["id"]) < fraction * 2 ** 64 for r in rows)
    manifest = manifests["text"]
    assert manifest.heldout_manifest().documents == want and manifest.documents == len(rows) - want
    assert bool(manifest.heldout) == (fraction > 0)


def test_a_source_whose_kept_files_hold_no_rows_gets_an_empty_manifest(tmp_path):
    """curate writes a kept shard per work item even when it kept nothing (no row group at all)."""
    rows, model = _curated(str(tmp_path), files=1, per_file=20)
    folder = tmp_path / "curated" / "kept" / "empty"
    folder.mkdir()
    schema = pq.read_schema(tmp_path / "curated" / "kept" / "text" / "part-00000-of-00001.parquet")
    pq.ParquetWriter(str(folder / "part-00000-of-00001.parquet"), schema).close()
    assert pq.ParquetFile(folder / "part-00000-of-00001.parquet").metadata.num_row_groups == 0
    publish_completion(str(tmp_path / "curated"))
    manifests = tokenize.run(["--input", str(tmp_path / "curated"), "--tokenizer", model, "--output",
                              str(tmp_path / "tokens"), "--num-shards", "2"])
    assert manifests["empty"].documents == 0 and len(manifests["empty"].shards) == 2
    assert manifests["text"].documents + manifests["text"].heldout_manifest().documents == len(rows)
