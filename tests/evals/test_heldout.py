"""Held-out loss: windows cover every transition once, losses match the model, bootstrap interval."""
import jax
import numpy as np
import pytest

from evals import heldout
from evals.inference import Engine


def test_windows_predict_every_token_after_the_first_exactly_once():
    doc = np.arange(10, 10 + 300)
    pairs = heldout.windows(doc, 64)
    assert sum(len(rest) for _, rest in pairs) == len(doc) - 1
    flat = [first + rest for first, rest in pairs]
    assert all(len(w) <= 65 for w in flat) and all(a[-1] == b[0] for a, b in zip(flat, flat[1:]))
    assert heldout.windows(np.array([7]), 64) == []


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_documents():
    rng = np.random.default_rng(0)
    tokens = rng.integers(50, 500, 400)
    nll = tokens * rng.normal(3.0, 0.4, 400)
    low, high = heldout.bootstrap_ci(nll[:40], tokens[:40])
    point = nll[:40].sum() / tokens[:40].sum()
    assert low < point < high
    wide, narrow = high - low, np.subtract(*heldout.bootstrap_ci(nll, tokens)[::-1])
    assert narrow < wide
    assert heldout.bootstrap_ci(nll[:40], tokens[:40]) == (low, high)         # fixed seed: reproducible


def test_no_interval_from_fewer_than_five_documents():
    """Defect 5: one document used to print ci_low == ci_high as if it were an interval."""
    tokens, nll = np.array([100, 120, 90, 80, 110, 95]), np.array([300.0, 350.0, 280.0, 240.0, 330.0, 290.0])
    for n in range(1, heldout.MIN_DOCUMENTS):
        assert heldout.bootstrap_ci(nll[:n], tokens[:n]) == (None, None)
    low, high = heldout.bootstrap_ci(nll[:5], tokens[:5])
    assert low < high


def test_a_wrong_data_root_is_a_one_line_error_not_an_empty_table(tiny_run, tmp_path, capsys):
    """Defect 4: `--data /does/not/exist` or a mixture directory printed an empty table and exited 0."""
    from evals.cli import main

    (tmp_path / "mix").mkdir()
    (tmp_path / "mix" / "mixture.json").write_text("{}")
    for data, says in ((tmp_path / "does-not-exist", "no such directory"), (tmp_path / "mix", "not a mixture")):
        assert main(["heldout", "--checkpoint", tiny_run["run"], "--data", str(data)]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert main(["heldout", "--checkpoint", tiny_run["run"], "--data", tiny_run["tokens"], "--sources", "nope"]) == 2
    assert "no source 'nope'" in capsys.readouterr().err


def test_heldout_loss_per_source_matches_a_direct_computation(tiny_run, loaded):
    engine = Engine(loaded.cfg, loaded.params, loaded.tokenizer.eos_id, loaded.tokenizer.pad_id, batch_size=8)
    assert heldout.heldout_sources(tiny_run["tokens"]) == ["code", "text"]
    results = heldout.evaluate(engine, tiny_run["tokens"])
    assert [r.source for r in results] == ["code", "text"]
    for r in results:
        assert r.documents == 3 and r.ci_low is None and r.ci_high is None and 0 < r.loss < 10   # too few for a CI
    docs = heldout.heldout_documents(tiny_run["tokens"], "text", max_tokens=1)
    assert len(docs) == 1
    doc = docs[0][:40]                                              # one window: check against the logits
    nll, count = heldout.document_losses(engine, [doc])
    logp = jax.nn.log_softmax(engine.logits(np.asarray([doc[:-1]], np.int32))[0], axis=-1)
    assert count[0] == len(doc) - 1
    assert nll[0] == pytest.approx(-sum(float(logp[i, doc[i + 1]]) for i in range(len(doc) - 1)), rel=1e-4)
