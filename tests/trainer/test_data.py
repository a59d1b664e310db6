"""trainer/data.py: packing on hand-computed rows, exact iterator restore, per-host disjointness, held-out eval."""
import json

import numpy as np
import pytest

from mixer.sampling import SamplingPlan
from tests.trainer.corpus import EOS, make_mixture
from trainer import data


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


def test_hosts_read_disjoint_interleaved_documents(mixture_path):
    mixture = _load(mixture_path)
    per_host = []
    for host in range(2):
        cfg = data.DataConfig(seq_len=32, global_batch=4, process_index=host, process_count=2, prefetch=0)
        per_host.append(_documents(_take(data.make_train_iterator(mixture, cfg), 3)))
    assert not set(per_host[0]) & set(per_host[1])
    plan = SamplingPlan(data.training_mixture(mixture, data.DataConfig(32, 4).eval_documents), seed=0)
    names = plan.sources
    stream = [(names.index(s), i) for s, i in plan.take(len(per_host[0]) + len(per_host[1]) + 4)]
    for host in range(2):   # host h reads exactly global picks h, h + 2, h + 4, ... in order
        assert per_host[host] == stream[host::2][:len(per_host[host])]


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


def test_corrupt_record_names_shard_and_record(tmp_path):
    path = make_mixture(str(tmp_path), documents=30, corrupt={"text": 17})
    cfg = data.DataConfig(seq_len=32, global_batch=2, prefetch=2)
    it = data.make_train_iterator(_load(path), cfg)
    with pytest.raises(data.DataError) as err:
        _take(it, 200)
    message = str(err.value)
    assert "'text' document 17" in message and "part-00001-of-00002.array_record" in message
    assert "record 2" in message          # 17 - 15 documents in shard 0
