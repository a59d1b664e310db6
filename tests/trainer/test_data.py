"""trainer/data.py: packing on hand-computed rows, exact iterator restore, per-host disjointness, held-out eval."""
import json
import os

import numpy as np
import pytest

from mixer.sampling_plan import SamplingPlan
from tests.trainer.corpus import EOS, TOKENIZER_SHA, VOCAB, make_mixture, write_source
from trainer import data, host_slices


def _stream(docs):
    pending = iter(docs)
    return lambda: next(pending, None)


def _reader(docs):
    table = {(sid, idx): np.asarray(tokens, np.int32) for sid, idx, tokens in docs}
    return lambda sid, idx: table[(sid, idx)]


def test_pack_rows_hand_computed():
    docs = [(0, 0, [10, 11, 12, 13, 2]), (1, 0, [20, 21, 22, 23, 24, 25, 2]), (0, 1, [30, 2]),
            (1, 1, [40, 41, 42, 43, 44, 2])]
    nxt, read = _stream(docs), _reader(docs)
    row1, carry = data.pack_row(8, nxt, read, None)
    assert carry == (1, 0, 3)                    # B split after 4 tokens; continuation overlaps one token
    assert row1["inputs"].tolist() == [10, 11, 12, 13, 2, 20, 21, 22]
    assert row1["targets"].tolist() == [11, 12, 13, 2, 20, 21, 22, 23]
    assert row1["segment_ids"].tolist() == [1, 1, 1, 1, 1, 2, 2, 2]
    assert row1["positions"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert row1["loss_mask"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1]
    assert row1["source_ids"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    row2, carry = data.pack_row(8, nxt, read, carry)
    assert carry == (1, 1, 2)
    assert row2["inputs"].tolist() == [23, 24, 25, 2, 30, 2, 40, 41]
    assert row2["targets"].tolist() == [24, 25, 2, 30, 2, 40, 41, 42]
    assert row2["segment_ids"].tolist() == [1, 1, 1, 1, 2, 2, 3, 3]
    assert row2["positions"].tolist() == [0, 1, 2, 3, 0, 1, 0, 1]   # the continuation restarts at 0
    assert row2["loss_mask"].tolist() == [1, 1, 1, 0, 1, 0, 1, 1]
    assert row2["source_ids"].tolist() == [1, 1, 1, 1, 0, 0, 1, 1]
    assert row2["document_ids"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    row3, carry = data.pack_row(8, nxt, read, carry)
    assert carry is None
    assert row3["inputs"].tolist() == [42, 43, 44, 2, 0, 0, 0, 0]
    assert row3["segment_ids"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert row3["loss_mask"].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert row3["source_ids"].tolist() == [1, 1, 1, 1, -1, -1, -1, -1]
    assert data.pack_row(8, nxt, read, carry) == (None, None)
    # Every in-document transition of the split documents is trained exactly once.
    pairs = [(i, t) for r in (row1, row2, row3) for i, t, m in zip(r["inputs"], r["targets"], r["loss_mask"]) if m]
    for _, _, doc in docs:
        for a, b in zip(doc[:-1], doc[1:]):
            assert pairs.count((a, b)) == 1


def test_pack_row_closes_with_one_slot_left():
    docs = [(0, 0, [5, 6, 7, 8, 9, 10, 11, 2]), (0, 1, [12, 2])]
    nxt, read = _stream(docs), _reader(docs)
    row, carry = data.pack_row(8, nxt, read, None)
    assert carry is None and row["segment_ids"].tolist() == [1] * 8
    assert row["loss_mask"].tolist() == [1] * 7 + [0]     # EOS's target is padding
    row, _ = data.pack_row(8, nxt, read, None)
    assert row["inputs"][:2].tolist() == [12, 2]


@pytest.fixture(scope="module")
def mixture_path(tmp_path_factory):
    return make_mixture(str(tmp_path_factory.mktemp("corpus")), documents=120, seq_len=32)


def _load(path):
    with open(path) as f:
        return json.load(f)


def _take(it, n):
    return [next(it) for _ in range(n)]


def test_batches_follow_contract(mixture_path):
    mixture = _load(mixture_path)
    cfg = data.DataConfig(seq_len=32, global_batch=4, prefetch=2)
    batch = next(data.make_train_iterator(mixture, cfg))
    assert set(data.BATCH_KEYS) <= set(batch)
    for key in data.BATCH_KEYS:
        assert batch[key].shape == (4, 32)
    assert batch["loss_mask"].dtype == np.float32 and batch["inputs"].dtype == np.int32
    assert np.array_equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    assert ((batch["segment_ids"] == 0) == (batch["source_ids"] == -1)).all()
    assert set(np.unique(batch["source_ids"])) <= {-1, 0, 1}
    assert (batch["inputs"] == EOS).any()


def test_iterator_state_restores_exactly(mixture_path):
    mixture = _load(mixture_path)
    cfg = data.DataConfig(seq_len=32, global_batch=4, prefetch=3)
    it = data.make_train_iterator(mixture, cfg)
    _take(it, 3)
    state = json.loads(json.dumps(it.get_state()))          # JSON round trip, as in the checkpoint
    expected = _take(it, 5)
    fresh = data.make_train_iterator(mixture, cfg)
    fresh.set_state(state)
    for want, got in zip(expected, _take(fresh, 5)):
        for key in want:
            assert np.array_equal(want[key], got[key]), key


def test_restore_mid_document_carry(mixture_path):
    mixture = _load(mixture_path)
    cfg = data.DataConfig(seq_len=8, global_batch=1, prefetch=0)   # short rows: most rows end in a split
    it = data.make_train_iterator(mixture, cfg)
    for _ in range(20):
        next(it)
        if it.get_state()["carry"] is not None:
            break
    state = it.get_state()
    assert state["carry"] is not None
    want = _take(it, 4)
    fresh = data.make_train_iterator(mixture, cfg)
    fresh.set_state(state)
    assert all(np.array_equal(a["inputs"], b["inputs"]) for a, b in zip(want, _take(fresh, 4)))


def _documents(batches):
    seen = []
    for b in batches:
        for s, d in zip(b["source_ids"].ravel(), b["document_ids"].ravel()):
            if s >= 0 and (int(s), int(d)) not in seen[-1:]:
                seen.append((int(s), int(d)))
    return seen


def test_hosts_read_disjoint_shard_slices_each_with_its_own_plan(mixture_path):
    mixture = _load(mixture_path)                 # 2 shards per source: one each
    plan_mixture = data.training_mixture(mixture, data.DataConfig(32, 4).eval_documents)
    seen = []
    for host in range(2):
        cfg = data.DataConfig(seq_len=32, global_batch=4, process_index=host, process_count=2, prefetch=0)
        docs = _documents(_take(data.make_train_iterator(mixture, cfg), 3))
        mine = host_slices.host_data(plan_mixture, data.SourceReaders(mixture), 0, host, 2)
        assert {s.mode for s in mine.slices.values()} == {"shards"}
        plan = SamplingPlan(mine.mixture, seed=mine.seed, doc_tokens=lambda s, j, m=mine: m.lengths[s][j])
        names = plan.sources               # host h reads its own plan's picks, mapped to global indices, in order
        assert docs == [(names.index(s), mine.slices[s].global_index(j)) for s, j in plan.take(len(docs))]
        for sid, index in docs:            # ... and only documents of its own shard
            (shard, first, end), = mine.slices[names[sid]].pieces
            assert shard * 60 + first <= index < shard * 60 + end
        seen.append(set(docs))
    assert not seen[0] & seen[1]


def test_heldout_documents_never_trained(mixture_path):
    mixture = _load(mixture_path)
    cfg = data.DataConfig(seq_len=32, global_batch=4, eval_documents=8, prefetch=0)
    held = data.holdout_counts(mixture, cfg.eval_documents)
    assert held == {"code": 8, "text": 8}
    trained = set(_documents(_take(data.make_train_iterator(mixture, cfg), 60)))  # > one epoch of both
    assert len(trained) == 2 * (120 - 8)
    evals = data.make_eval_batches(mixture, cfg, num_batches=4)
    assert evals and all(b["inputs"].shape == (4, 32) for b in evals)
    held_docs = set(_documents(evals))
    assert held_docs and all(d >= 120 - 8 for _, d in held_docs)
    assert not held_docs & trained
    assert {s for s, _ in held_docs} == {0, 1}


def test_manifest_heldout_shards_are_the_eval_set_and_never_trained(tmp_path):
    mixture = _load(make_mixture(str(tmp_path), documents=60, heldout=6, seq_len=32))
    cfg = data.DataConfig(seq_len=32, global_batch=4, eval_documents=8, prefetch=0)
    readers = data.SourceReaders(mixture)
    assert data.split_sources(readers) == {"code", "text"}
    assert data.holdout_counts(mixture, cfg.eval_documents, data.split_sources(readers)) == {"code": 0, "text": 0}
    trained = set(_documents(_take(data.make_train_iterator(mixture, cfg), 60)))
    assert len(trained) == 2 * 60                                   # every training document, nothing carved off
    evals = data.make_eval_batches(mixture, cfg, num_batches=4)
    for sid in (0, 1):
        held = [readers.read_heldout(sid, i).tolist() for i in range(6)]
        mask = np.concatenate([b["source_ids"].ravel() == sid for b in evals])
        seen = np.concatenate([b["inputs"].ravel() for b in evals])[mask].tolist()
        assert seen[:len(held[0]) - 1] == held[0][:-1]           # packed from the held-out shard, in order
        assert {d for s, d in _documents(evals) if s == sid} <= set(range(6))


def test_corrupt_record_names_shard_and_record(tmp_path):
    path = make_mixture(str(tmp_path), documents=30, corrupt={"text": 17})
    cfg = data.DataConfig(seq_len=32, global_batch=2, prefetch=2)
    it = data.make_train_iterator(_load(path), cfg)
    with pytest.raises(data.DataError) as err:
        _take(it, 200)
    message = str(err.value)
    assert "'text' document 17" in message and "part-00001-of-00002.array_record" in message
    assert "record 2" in message          # 17 - 15 documents in shard 0


# ----------------------------------------------------------------------------------------------- token shares

SHARE_WEIGHTS = {"long": 0.2, "mid": 0.5, "short": 0.3}
SHARE_LENGTHS = {"long": (6.0, 1.0), "mid": (4.5, 1.2), "short": (3.0, 0.8)}   # lognormal (mu, sigma) of tokens
# The requirement: within 0.5 points over every 1M-token window with real lengths (up to ~8000 tokens). At test
# scale the window is 200k tokens and lengths are capped at 1600, the same document-to-window ratio (feedback
# keeps each source within about half a document of its share, so that ratio is what bounds the error).
WINDOW, MAX_LENGTH = 200_000, 1600


def _share_mixture(root, sidecars=True):
    """Three sources of heavy-tailed lengths (means ~28 / ~180 / ~570 tokens, up to MAX_LENGTH)."""
    rng = np.random.default_rng(5)
    sources = {}
    for name, weight in SHARE_WEIGHTS.items():
        mu, sigma = SHARE_LENGTHS[name]
        sizes = np.clip(rng.lognormal(mu, sigma, 1500).astype(int), 2, MAX_LENGTH)
        docs = [np.append(rng.integers(3, VOCAB, n - 1), EOS).tolist() for n in sizes]
        manifest = write_source(str(root / "tokens"), name, docs, shards=3, sidecars=sidecars)
        sources[name] = {"weight": weight, "target_tokens": 10**6, "available_tokens": int(sizes.sum()),
                         "documents": len(docs), "epochs": 1.0, "manifest": manifest, "shards": []}
    return {"format_version": 1, "name": "shares", "stage": "pretrain", "init_from": None,
            "schedule": {"kind": "cosine", "warmup_steps": 1}, "total_tokens": 10**6, "seq_len": 1024, "seed": 0,
            "tokenizer_sha256": TOKENIZER_SHA, "vocab_size": VOCAB, "command": "test", "sources": sources}


def window_share_errors(batches, names, weights, window):
    """Max |realised token share - weight| (points) per consecutive window of `window` tokens of the packed
    stream (tokens counted on source_ids, padding excluded)."""
    ids = np.concatenate([b["source_ids"].ravel() for b in batches])
    ids = ids[ids >= 0]
    worst = []
    for begin in range(0, ids.size - window + 1, window):
        counts = np.bincount(ids[begin:begin + window], minlength=len(names))
        worst.append(max(abs(counts[i] / window - weights[n]) * 100 for i, n in enumerate(names)))
    return worst


def test_packed_token_shares_stay_within_half_a_point_per_window(tmp_path):
    mixture = _share_mixture(tmp_path)
    cfg = data.DataConfig(seq_len=1024, global_batch=8, prefetch=0, eval_documents=8)
    it = data.make_train_iterator(mixture, cfg)
    batches = _take(it, 1_000_000 // (8 * 1024) + 1)          # > 1M tokens: 5 windows of 200k tokens
    errors = window_share_errors(batches, sorted(SHARE_WEIGHTS), SHARE_WEIGHTS, WINDOW)
    assert len(errors) == 5 and max(errors) < 0.5, errors
    # The same loader without token feedback misses the requirement on this corpus (why feedback is on).
    plan = SamplingPlan(data.training_mixture(mixture, cfg.eval_documents))
    lengths = data.document_lengths(mixture, data.SourceReaders(mixture))
    names = plan.sources
    picks = [(names.index(s), int(lengths[s][i])) for s, i in plan.take(12_000)]
    stream = np.repeat([sid for sid, _ in picks], [n for _, n in picks])
    open_loop = window_share_errors([{"source_ids": stream}], names, SHARE_WEIGHTS, WINDOW)
    assert max(open_loop) > 0.5, open_loop


def test_restore_of_a_state_saved_before_token_feedback(tmp_path):
    mixture = _share_mixture(tmp_path)
    cfg = data.DataConfig(seq_len=256, global_batch=2, prefetch=0)
    it = data.make_train_iterator(mixture, cfg)
    _take(it, 400)                                             # past the first epoch of "short" (~41k tokens)
    state = json.loads(json.dumps(it.get_state()))
    saved_tokens = state["plan"]["tokens"]
    assert set(saved_tokens) == set(SHARE_WEIGHTS) and state["plan"]["counts"]["short"] > 1492
    expected = _take(it, 5)
    del state["plan"]["tokens"]                                # what a checkpoint from before feedback holds
    fresh = data.make_train_iterator(mixture, cfg)
    fresh.set_state(state)
    plan_mixture = data.training_mixture(mixture, cfg.eval_documents)
    lengths = data.document_lengths(mixture, data.SourceReaders(mixture))
    assert data.tokens_from_counts(SamplingPlan(plan_mixture), plan_mixture, state["plan"]["counts"],
                                   lengths) == saved_tokens
    for want, got in zip(expected, _take(fresh, 5)):
        assert np.array_equal(want["inputs"], got["inputs"]) and np.array_equal(want["source_ids"], got["source_ids"])


def test_manifests_without_sidecars_give_the_same_batches(tmp_path):
    with_sidecars = _share_mixture(tmp_path / "a")
    without = _share_mixture(tmp_path / "b", sidecars=False)
    assert not any(name.endswith(".lengths") for _, _, files in os.walk(tmp_path / "b") for name in files)
    cfg = data.DataConfig(seq_len=256, global_batch=2, prefetch=0)
    for a, b in zip(_take(data.make_train_iterator(with_sidecars, cfg), 20),
                    _take(data.make_train_iterator(without, cfg), 20)):
        assert np.array_equal(a["inputs"], b["inputs"])


def test_inconsistent_sidecar_is_a_data_error_naming_it(tmp_path):
    mixture = _share_mixture(tmp_path)
    sidecar = tmp_path / "tokens" / "mid" / "part-00001-of-00003.lengths"
    sidecar.write_bytes(sidecar.read_bytes()[:-4])
    with pytest.raises(data.DataError, match=r"source 'mid': document lengths: .*part-00001-of-00003.lengths"):
        next(data.make_train_iterator(mixture, data.DataConfig(seq_len=256, global_batch=2, prefetch=0)))
