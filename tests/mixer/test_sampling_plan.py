"""SamplingPlan: determinism, token shares, epochs without repeats, exact resume, host sharding."""
import hashlib
import json
import math
import random

import pytest

from mixer.sampling_plan import EpochPermutation, SamplingPlan

# (weight, mean tokens per document, documents): means as manifests would give (tokens / documents)
SOURCES = {"text": (0.75, 800, 40_000), "code": (0.225, 400, 20_000), "synthetic": (0.025, 250, 1_000)}


def mixture(sources=SOURCES, seed=0):
    return {"seed": seed, "sources": {s: {"weight": w, "documents": n, "available_tokens": m * n}
                                      for s, (w, m, n) in sources.items()}}


# length histograms as manifests record them (min, median, p99, max tokens per document)
HISTOGRAMS = {"text": {"min": 20, "median": 500, "p99": 4000, "max": 9000},
              "code": {"min": 10, "median": 250, "p99": 3000, "max": 9000},
              "synthetic": {"min": 50, "median": 200, "p99": 800, "max": 2000}}


def doc_length(source: str, index: int) -> int:
    """A deterministic per-document length: lognormal through the manifest's median and p99, clipped to
    [min, max] (heavy-tailed like real corpora: a few documents are 10-20x the median)."""
    h = HISTOGRAMS[source]
    sigma = math.log(h["p99"] / h["median"]) / 2.326
    x = int.from_bytes(hashlib.blake2b(f"{source}:{index}".encode(), digest_size=8).digest(), "little")
    u1, u2 = ((x & 0xFFFFFFFF) + 0.5) / 2**32, ((x >> 32) + 0.5) / 2**32
    z = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
    return min(h["max"], max(h["min"], int(h["median"] * math.exp(sigma * z))))


def simulated_mixture(seed: int = 0) -> dict:
    """The mixture a build would write for the simulated corpus (available tokens = sum of lengths)."""
    return {"seed": seed, "sources": {
        s: {"weight": w, "documents": n, "available_tokens": sum(doc_length(s, i) for i in range(n))}
        for s, (w, _, n) in SOURCES.items()}}


def window_deviations(plan, length, windows: int, window_tokens: int = 1_000_000):
    """Largest |realised share - weight| per window of `window_tokens`, and over everything."""
    weights = {s: w for s, (w, _, _) in SOURCES.items()}
    totals, window, worst, done = dict.fromkeys(weights, 0), dict.fromkeys(weights, 0), 0.0, 0
    while done < windows:
        source, index = plan.next()
        n = length(source, index)
        window[source] += n
        totals[source] += n
        if sum(window.values()) >= window_tokens:
            size = sum(window.values())
            worst = max(worst, max(abs(window[s] / size - weights[s]) for s in weights))
            window, done = dict.fromkeys(weights, 0), done + 1
    size = sum(totals.values())
    return worst, max(abs(totals[s] / size - weights[s]) for s in weights)


def test_same_seed_same_stream_different_seed_different():
    a, b, c = SamplingPlan(mixture()), SamplingPlan(mixture()), SamplingPlan(mixture(), seed=1)
    sa, sb, sc = a.take(5000), b.take(5000), c.take(5000)
    assert sa == sb
    assert [s for s, _ in sa] == [s for s, _ in sc]          # source order depends on weights only
    assert [i for _, i in sa] != [i for _, i in sc]          # documents depend on the seed
    assert SamplingPlan(mixture(seed=7)).take(100) == SamplingPlan(mixture(), seed=7).take(100)
    assert a.sources == ["code", "synthetic", "text"]


@pytest.mark.parametrize("seed", [0, 3])
def test_token_shares_within_half_a_point_per_million_tokens_with_feedback(seed):
    plan = SamplingPlan(simulated_mixture(seed), doc_tokens=doc_length)
    worst, overall = window_deviations(plan, doc_length, windows=12)
    assert worst < 0.005, f"worst 1M-token window off by {worst * 100:.3f} points"
    assert overall < 0.0005


def test_token_shares_from_mean_lengths_converge_without_feedback():
    # Open loop the schedule is exact in expected tokens; heavy-tailed lengths make single 1M windows
    # wander (~2-3 points, see the module docstring) but the run as a whole lands near the weights.
    worst, overall = window_deviations(SamplingPlan(simulated_mixture()), doc_length, windows=12)
    assert overall < 0.005, f"overall off by {overall * 100:.3f} points"
    # with every document at its source's mean length each window is exact to about one document
    means = {s: m for s, (_, m, _) in SOURCES.items()}
    exact = window_deviations(SamplingPlan(mixture()), lambda s, i: means[s], windows=5)[0]
    assert exact < 0.001


@pytest.mark.parametrize("trial", range(4))
def test_document_counts_track_rates_at_every_prefix(trial):
    rnd = random.Random(trial)
    sources = {f"s{k}": (rnd.random() + 0.01, rnd.randint(50, 2000), 1000) for k in range(rnd.randint(2, 9))}
    total = sum(w for w, _, _ in sources.values())
    sources = {s: (w / total, m, n) for s, (w, m, n) in sources.items()}
    plan = SamplingPlan(mixture(sources))
    rates = {s: w / m for s, (w, m, _) in sources.items()}
    total_rate = sum(rates.values())
    counts = dict.fromkeys(sources, 0)
    worst = 0.0
    for n in range(1, 10_001):
        counts[plan.next()[0]] += 1
        worst = max(worst, max(abs(counts[s] - n * rates[s] / total_rate) for s in sources))
    assert worst < 1.5, f"a source drifted {worst:.2f} documents from its rate"


def test_no_repeats_within_an_epoch_and_epochs_continue():
    small = {"text": (0.5, 10, 37), "code": (0.5, 10, 1)}
    plan = SamplingPlan(mixture(small))
    picks = [i for s, i in plan.take(37 * 2 * 3 + 11) if s == "text"]
    for epoch in range(3):
        assert sorted(picks[37 * epoch:37 * (epoch + 1)]) == list(range(37))
    assert picks[:37] != picks[37:74]                          # a fresh permutation each epoch
    assert len(set(picks[111:])) == len(picks[111:])           # the fractional epoch has no repeats either


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16, 17, 1000, 65_537])
def test_epoch_permutation_is_a_bijection(n):
    perm = EpochPermutation(n, seed=3, source="code", epoch=2)
    assert sorted(perm(i) for i in range(n)) == list(range(n))


def test_epoch_permutation_needs_no_array_for_a_billion_documents():
    perm = EpochPermutation(10**9 + 7, seed=0, source="text", epoch=0)
    values = [perm(i) for i in range(10_000)]
    assert len(set(values)) == 10_000 and all(0 <= v < 10**9 + 7 for v in values)
    assert max(values) > 9 * 10**8 and min(values) < 10**8      # spread over the whole range


def test_resume_from_saved_state_gives_the_same_continuation():
    for kwargs in ({}, {"doc_tokens": doc_length}, {"seed": 3}):
        plan = SamplingPlan(mixture(), **kwargs)
        plan.take(12_345)
        state = json.loads(json.dumps(plan.get_state()))
        expected = plan.take(3000)
        resumed = SamplingPlan(mixture(), **kwargs)
        resumed.set_state(state)
        assert resumed.take(3000) == expected


def test_set_state_refuses_a_different_plan():
    state = SamplingPlan(mixture()).get_state()
    with pytest.raises(ValueError, match="seed"):
        SamplingPlan(mixture(), seed=5).set_state(state)
    with pytest.raises(ValueError, match="own shard slices"):   # a host's state from the global-stream days
        SamplingPlan(mixture()).set_state(dict(state, process_index=1, process_count=2))
    SamplingPlan(mixture()).set_state(dict(state, process_index=0, process_count=1))   # old single-host: fine
    other = dict(SOURCES, math=(0.0, 10, 10))
    with pytest.raises(ValueError, match="sources"):
        SamplingPlan(mixture(other)).set_state(state)


def test_zero_weight_sources_are_listed_but_never_picked():
    plan = SamplingPlan(mixture(dict(SOURCES, math=(0.0, 10, 10))))
    assert plan.sources == ["code", "math", "synthetic", "text"]
    assert "math" not in {s for s, _ in plan.take(5000)}


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="no source with a positive weight"):
        SamplingPlan(mixture({"text": (0.0, 10, 10)}))
    with pytest.raises(ValueError, match="no documents"):
        SamplingPlan({"sources": {"text": {"weight": 1.0, "documents": 0, "available_tokens": 0}}})


def test_epoch_permutation_shuffles_well():
    import numpy as np

    n = 10_000
    order = np.arange(n)
    first = np.array([EpochPermutation(n, 0, "text", 0)(i) for i in range(n)])
    second = np.array([EpochPermutation(n, 0, "text", 1)(i) for i in range(n)])
    assert abs(np.corrcoef(order, first)[0, 1]) < 0.05        # not close to the identity
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.05       # epochs are independent orders
    assert len(set(np.diff(first).tolist())) > 0.5 * n        # not a stride pattern (affine maps fail this)
