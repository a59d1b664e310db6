"""Tokenizer training: sampling shares, determinism, byte-exact round trips for every source."""
import hashlib
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import train_tokenizer
from tokens.tokenizer import Tokenizer
from tests.pipelines.curated_sample import HARD_CASES, write_curated

VOCAB = 1024


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_tok")
    docs = write_curated(str(root / "curated"))
    common = ["--input", str(root / "curated"), "--vocab-size", str(VOCAB), "--sample-bytes", "150000"]
    meta = train_tokenizer.run(common + ["--output", str(root / "tok"), "--num-threads", "2"])
    again = train_tokenizer.run(common + ["--output", str(root / "tok2"), "--num-threads", "1"])
    return root, docs, meta, again


def test_outputs_and_metadata(trained):
    root, docs, meta, _ = trained
    model = (root / "tok" / "tokenizer.model").read_bytes()
    on_disk = json.loads((root / "tok" / "tokenizer.json").read_text())
    assert on_disk["sha256"] == hashlib.sha256(model).hexdigest() == meta["sha256"]
    assert on_disk["vocab_size"] == VOCAB
    assert (on_disk["pad_id"], on_disk["bos_id"], on_disk["eos_id"], on_disk["unk_id"]) == (0, 1, 2, 3)
    assert on_disk["config"]["vocab_size"] == VOCAB and on_disk["config"]["sample_bytes"] == 150000
    assert not os.path.exists(root / "tok" / train_tokenizer.SAMPLE_DIR)   # scratch sample removed
    assert str(root).encode() not in model and b"tokenizer" not in model   # no run paths baked in


def test_sample_is_budgeted_and_every_source_represented(trained):
    _, docs, meta, _ = trained
    sampled = meta["sources"]
    assert set(sampled) == set(docs)
    assert all(n > 0 for n in sampled.values())
    assert sum(sampled.values()) < sum(len(v) for v in docs.values())   # 150 kB < the corpus


def test_training_is_deterministic(trained):
    _, _, meta, again = trained
    assert meta["sha256"] == again["sha256"]   # different thread counts, same sample, same model
    assert meta["sources"] == again["sources"]


def test_round_trip_every_source(trained):
    root, docs, _, _ = trained
    tok = Tokenizer.load(str(root / "tok" / "tokenizer.model"), num_threads=2)
    for source, rows in docs.items():
        texts = [r["text"] for r in rows]
        arrays = tok.encode_arrays(texts + ["a\u2581b", ""])
        for text, ids, array in zip(texts, tok.encode_batch(texts), arrays):
            assert tok.decode(ids) == text, (source, text[:60])
            assert all(0 <= i < VOCAB for i in ids)
            assert tok.eos_id not in ids
            assert array.dtype == np.int32 and array.tolist() == ids   # the tokenize job's path
        assert [a.tolist() for a in arrays[-2:]] == tok.encode_batch(["a\u2581b", ""])


def test_whitespace_runs_are_single_pieces(trained):
    root = trained[0]
    tok = Tokenizer.load(str(root / "tok" / "tokenizer.model"))
    for run in ("\n", "\n\n", "\t", "\r\n"):
        assert len(tok.encode(run)) == 1, repr(run)
    assert len(tok.encode(" " * 8)) == 1
    # A literal U+2581 must survive (SentencePiece uses it for spaces internally).
    for text in ("\u2581", "a\u2581b", " \u2581 ", "\u2581\u2581x"):
        assert tok.decode(tok.encode(text)) == text


@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r\u2581é😀{}()_0123456789")) | st.characters(blacklist_categories=("Cs",)),
               max_size=200))
@settings(max_examples=200, deadline=None)
def test_round_trip_property(text):
    tok = _cached_tokenizer()
    assert tok.decode(tok.encode(text)) == text


_TOKENIZERS = {}


def _cached_tokenizer():
    """A tokenizer trained without Beam on the hard cases (hypothesis cannot use module fixtures)."""
    if "tok" not in _TOKENIZERS:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tok-prop-") as tmp:
            sample = os.path.join(tmp, "s.txt")
            with open(sample, "w", encoding="utf-8", errors="surrogatepass") as f:
                for text in HARD_CASES * 20:
                    for line in train_tokenizer.training_lines(text, 4096):
                        f.write(line + "\n")
            model = train_tokenizer.train(sample, train_tokenizer.TokenizerConfig(vocab_size=400))
        _TOKENIZERS["tok"] = Tokenizer(model)
    return _TOKENIZERS["tok"]


def test_source_shares_floor_and_weights():
    shares = train_tokenizer.source_shares({"text": 9_000_000, "code": 950_000, "markup": 50_000}, 0.05)
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares["markup"] == pytest.approx(0.05)
    assert shares["text"] / shares["code"] == pytest.approx(9_000_000 / 950_000)
    equal = train_tokenizer.source_shares({"a": 1, "b": 1_000_000}, 0.6)
    assert equal == {"a": 0.5, "b": 0.5}
    weighted = train_tokenizer.source_shares({"a": 10, "b": 10, "c": 10}, 0.05, {"a": 3, "b": 1})
    assert weighted == {"a": 0.75, "b": 0.25, "c": 0.0}


def test_keep_rates_hit_the_budget():
    config = train_tokenizer.TokenizerConfig(sample_bytes=1000, min_source_share=0.0)
    rates = train_tokenizer.keep_rates({"a": (10, 4000), "b": (5, 100)}, config, None)
    assert rates["a"] == pytest.approx(1000 * 4000 / 4100 / 4000)
    assert rates["b"] == pytest.approx(1000 * 100 / 4100 / 100)
    by_docs = train_tokenizer.keep_rates({"a": (100, 1), "b": (100, 1)},
                                         train_tokenizer.TokenizerConfig(sample_docs=50), None)
    assert by_docs == {"a": 0.25, "b": 0.25}


def test_id_fraction_is_stable_and_spread():
    values = [train_tokenizer.id_fraction(f"doc-{i}") for i in range(4000)]
    assert values[:3] == [train_tokenizer.id_fraction(f"doc-{i}") for i in range(3)]
    assert all(0 <= v < 1 for v in values)
    assert 0.45 < sum(v < 0.5 for v in values) / len(values) < 0.55


def test_training_lines_cut_on_character_boundaries():
    text = "short\n\n" + "é" * 3000 + "\r\nlast"
    lines = train_tokenizer.training_lines(text, 1001)
    assert all(len(line.encode()) <= 1001 for line in lines)
    assert "".join(lines) == text.replace("\r\n", "").replace("\n", "")
    assert "" not in lines


def test_bad_weights_and_missing_input_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="weights"):
        train_tokenizer.parse_weights("code=abc")
    with pytest.raises(FileNotFoundError, match="kept"):
        train_tokenizer.run(["--input", str(tmp_path / "nothing"), "--output", str(tmp_path / "tok")])


@pytest.mark.gcs
def test_gcs_input_and_output_give_the_same_model(trained, gcs_emulator):
    import uuid

    from pipelines import beam_files
    from tokens import paths

    root, _, meta, _ = trained
    base = f"gs://{gcs_emulator}/train-tok-{uuid.uuid4().hex[:8]}"
    for dirpath, _, files in os.walk(root / "curated"):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root / "curated")
            with open(os.path.join(dirpath, name), "rb") as f:
                paths.write_atomic(f"{base}/curated/{rel}", f.read())
    remote = train_tokenizer.run(["--input", f"{base}/curated", "--output", f"{base}/tok", "--vocab-size",
                                  str(VOCAB), "--sample-bytes", "150000", "--num-threads", "2"])
    assert remote["sha256"] == meta["sha256"]
    with paths.open_read(f"{base}/tok/tokenizer.model") as f:
        assert hashlib.sha256(f.read()).hexdigest() == meta["sha256"]
    assert beam_files.match(f"{base}/tok/{train_tokenizer.SAMPLE_DIR}/*") == []
