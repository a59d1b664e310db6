"""trainer/host_slices.py: disjoint shard slices per host, and four simulated hosts training on a mixture."""
import json

import numpy as np
import pytest

from tests.trainer.corpus import EOS, TOKENIZER_SHA, VOCAB, write_source
from tests.trainer.test_data import window_share_errors
from trainer import data, host_slices


def _documents(s: host_slices.HostSlice) -> list[int]:
    return [s.global_index(j) for j in range(s.documents)]


@pytest.mark.parametrize("shards,documents,hosts", [(10, 1000, 4), (9, 900, 4), (4, 400, 4), (64, 6400, 16)])
def test_whole_shards_are_disjoint_and_cover_everything(shards, documents, hosts):
    rng = np.random.default_rng(shards)
    counts = [documents // shards] * shards
    tokens = rng.integers(1_000, 9_000, shards).tolist()
    slices = [host_slices.assign("s", counts, tokens, documents, h, hosts) for h in range(hosts)]
    assert {s.mode for s in slices} == {"shards"}
    shard_sets = [set(s.shards) for s in slices]
    assert all(not a & b for i, a in enumerate(shard_sets) for b in shard_sets[i + 1:])
    assert set().union(*shard_sets) == set(range(shards))
    docs = [_documents(s) for s in slices]
    assert sorted(d for h in docs for d in h) == list(range(documents))
    load = [sum(tokens[k] for k in s) for s in shard_sets]   # balanced to within one shard
    assert max(load) - min(load) <= max(tokens)


def test_fewer_shards_than_hosts_splits_documents_evenly():
    slices = [host_slices.assign("s", [70, 30], [700, 300], 100, h, 4) for h in range(4)]
    assert {s.mode for s in slices} == {"documents"}
    docs = [_documents(s) for s in slices]
    assert [len(d) for d in docs] == [25, 25, 25, 25]
    assert sorted(sum(docs, [])) == list(range(100))
    assert slices[2].pieces == ((0, 50, 70), (1, 0, 5))          # a range may straddle two shards
    assert [s.global_index(j) for s in slices[2:3] for j in (0, 19, 20, 24)] == [50, 69, 70, 74]


def test_held_out_tail_is_in_no_slice_and_tiny_sources_are_read_whole():
    slices = [host_slices.assign("s", [10] * 6, [100] * 6, 52, h, 4) for h in range(4)]   # 8 held out
    assert sorted(sum((_documents(s) for s in slices), [])) == list(range(52))
    tiny = [host_slices.assign("s", [3], [30], 3, h, 4) for h in range(4)]
    assert all(s.mode == "replicated" and _documents(s) == [0, 1, 2] for s in tiny)
    single = host_slices.assign("s", [10] * 6, [100] * 6, 52, 0, 1)
    assert single.mode == "all" and single.documents == 52 and single.global_index(51) == 51


# ------------------------------------------------------------------------------------------ four hosts

WEIGHTS = {"long": 0.2, "mid": 0.5, "short": 0.3}
LENGTHS = {"long": (6.0, 1.0), "mid": (4.5, 1.2), "short": (3.0, 0.8)}     # lognormal (mu, sigma) of tokens
SHARDS = {"long": 8, "mid": 6, "short": 2}                                   # short: fewer shards than hosts
HOSTS, SEQ, HOST_ROWS = 4, 1024, 2
WINDOW = 200_000   # tokens: the 1M-token window at test scale (lengths capped at 1600, as in test_data.py)


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("hosts")
    rng = np.random.default_rng(11)
    sources = {}
    for name, weight in WEIGHTS.items():
        mu, sigma = LENGTHS[name]
        sizes = np.clip(rng.lognormal(mu, sigma, 2400).astype(int), 2, 1600)
        docs = [np.append(rng.integers(3, VOCAB, n - 1), EOS).tolist() for n in sizes]
        manifest = write_source(str(root / "tokens"), name, docs, shards=SHARDS[name])
        sources[name] = {"weight": weight, "target_tokens": 10**6, "available_tokens": int(sizes.sum()),
                         "documents": len(docs), "epochs": 1.0, "manifest": manifest, "shards": []}
    return {"format_version": 1, "name": "hosts", "stage": "pretrain", "init_from": None,
            "schedule": {"kind": "cosine", "warmup_steps": 1}, "total_tokens": 10**6, "seq_len": SEQ, "seed": 0,
            "tokenizer_sha256": TOKENIZER_SHA, "vocab_size": VOCAB, "command": "test", "sources": sources}


def _config(host):
    return data.DataConfig(seq_len=SEQ, global_batch=HOSTS * HOST_ROWS, process_index=host, process_count=HOSTS,
                           prefetch=0)


def test_four_hosts_disjoint_slices_exact_shares_and_resume(mixture):
    plan_mixture = data.training_mixture(mixture, _config(0).eval_documents)
    readers = data.SourceReaders(mixture)
    per_host = [host_slices.host_data(plan_mixture, readers, 0, h, HOSTS) for h in range(HOSTS)]
    for sid, name in enumerate(sorted(WEIGHTS)):
        slices = [h.slices[name] for h in per_host]
        docs = [set(_documents(s)) for s in slices]
        assert all(not a & b for i, a in enumerate(docs) for b in docs[i + 1:])
        assert set().union(*docs) == set(range(plan_mixture["sources"][name]["documents"]))
        if SHARDS[name] >= HOSTS:                  # whole shards: disjoint shard sets covering every shard
            shard_sets = [set(s.shards) for s in slices]
            assert all(not a & b for i, a in enumerate(shard_sets) for b in shard_sets[i + 1:])
            assert set().union(*shard_sets) == set(range(SHARDS[name]))
        else:
            assert {s.mode for s in slices} == {"documents"}

    iterators = [data.make_train_iterator(mixture, _config(h)) for h in range(HOSTS)]
    steps = 10**6 // (HOSTS * HOST_ROWS * SEQ) + 2            # > 1M tokens in all
    global_batches, saved, expected = [], None, None
    for step in range(steps):
        batches = [next(it) for it in iterators]
        for host, batch in enumerate(batches):               # every host reads only its own slice
            for sid, name in enumerate(sorted(WEIGHTS)):
                ids = set(batch["document_ids"][batch["source_ids"] == sid].tolist())
                assert ids <= set(_documents(per_host[host].slices[name]))
        global_batches.append({"source_ids": np.concatenate([b["source_ids"] for b in batches])})
        if step == 40:
            saved = json.loads(json.dumps(iterators[2].get_state()))
        if step in (41, 42, 43):
            expected = (expected or []) + [batches[2]]
    errors = window_share_errors(global_batches, sorted(WEIGHTS), WEIGHTS, WINDOW)
    assert len(errors) == 5 and max(errors) < 0.5, errors

    resumed = data.make_train_iterator(mixture, _config(2))
    resumed.set_state(saved)
    for want in expected:
        got = next(resumed)
        assert all(np.array_equal(want[k], got[k]) for k in want)
    with pytest.raises(data.DataError, match="cannot resume exactly"):
        data.make_train_iterator(mixture, _config(1)).set_state(saved)    # host 2's state on host 1



def test_host_plans_follow_the_mixtures_seed(mixture):
    """The trainer passes seed None (the mixture's): each host's plan seed must derive from mixture["seed"],
    so two mixtures that differ only in seed sample differently on a multi-host slice too."""
    readers = data.SourceReaders(mixture)
    seeds = {}
    for mixture_seed in (0, 5):
        body = dict(mixture, seed=mixture_seed)
        plan_mixture = data.training_mixture(body, _config(0).eval_documents)
        seeds[mixture_seed] = [host_slices.host_data(plan_mixture, readers, None, h, HOSTS).seed for h in range(HOSTS)]
        assert seeds[mixture_seed] == [host_slices.host_seed(mixture_seed, h, HOSTS) for h in range(HOSTS)]
    assert len(set(seeds[0])) == HOSTS and not set(seeds[0]) & set(seeds[5])
