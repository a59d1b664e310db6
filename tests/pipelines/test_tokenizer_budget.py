"""pipelines/tokenizer_budget.py: the memory/time model of SentencePiece training and train_tokenizer's refusal."""
import json
import os

import pytest

from pipelines import tokenizer_budget, train_tokenizer

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "results.json")
GiB = 1 << 30


def test_the_model_is_the_fit_recorded_by_the_benchmark():
    with open(RESULTS) as f:
        fit = json.load(f)["tokenizer_training_fit"]
    recorded = tokenizer_budget.Budget.from_fit(fit)
    for size, vocab in ((16 << 20, 32000), (4 * GiB, 256000)):
        assert tokenizer_budget.MEASURED.memory(size, vocab) == pytest.approx(recorded.memory(size, vocab), rel=0.005)
        assert tokenizer_budget.MEASURED.cpu_seconds(size, vocab) == pytest.approx(
            recorded.cpu_seconds(size, vocab), rel=0.01)


def test_check_refuses_exactly_past_the_largest_sample_that_fits():
    budget = tokenizer_budget.MEASURED
    fits = budget.max_sample_bytes(256000, 16 * GiB)
    assert "SentencePiece estimate" in tokenizer_budget.check(fits, 256000, 16 * GiB)
    with pytest.raises(SystemExit, match=f"Lower --sample-bytes to at most {fits:,}"):
        tokenizer_budget.check(fits * 1.02, 256000, 16 * GiB)
    assert budget.memory(2 * GiB, 256000) > budget.memory(1 * GiB, 256000) > budget.memory(1 * GiB, 32000)


def test_paper_size_needs_a_named_machine():
    full = train_tokenizer.FULL
    loaded = tokenizer_budget.effective_sample_bytes(full.sample_bytes, full.input_sentence_size)
    assert loaded == full.input_sentence_size * tokenizer_budget.MEAN_LINE_BYTES < full.sample_bytes
    assert tokenizer_budget.machine_for(tokenizer_budget.MEASURED.memory(loaded, full.vocab_size)).startswith("n2-")
    assert "lower the sample" in tokenizer_budget.machine_for(10 ** 13)


def test_train_tokenizer_refuses_before_the_sampling_job(tmp_path):
    # the input does not exist: reaching the Beam job would raise FileNotFoundError instead
    with pytest.raises(SystemExit, match=r"will not fit.*--sample-bytes"):
        train_tokenizer.run(["--input", str(tmp_path / "absent"), "--output", str(tmp_path / "tok"),
                             "--vocab-size", "256000", "--sample-bytes", str(8 * GiB), "--memory-limit", "8G"])


def test_loaded_bytes_follows_input_sentence_size(tmp_path):
    path = tmp_path / "sample.txt"
    lines = [f"line {i} " + "x" * (i % 7) for i in range(1000)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert train_tokenizer.loaded_bytes(str(path), 0) == os.path.getsize(path)
    assert train_tokenizer.loaded_bytes(str(path), 10) == sum(len(line) + 1 for line in lines[:10])
    assert train_tokenizer.loaded_bytes(str(path), 5000) == os.path.getsize(path)
