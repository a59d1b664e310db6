"""SamplingPlan: determinism, token shares, epochs without repeats, exact resume, host sharding."""
import hashlib
import itertools
import json
import math

import pytest

from mixer.sampling import EpochPermutation, SamplingPlan

# (weight, mean tokens per document, documents): means as manifests would give (tokens / documents)
SOURCES = {"text": (0.75, 800, 40_000), "code": (0.225, 400, 20_000), "synthetic": (0.025, 250, 1_000)}


def mixture(sources=SOURCES, seed=0):
    return {"seed": seed, "sources": {s: {"weight": w, "documents": n, "available_tokens": m * n}
                                      for s, (w, m, n) in sources.items()}}


def doc_length(source: str, index: int, sigma: float = 1.0) -> int:
    """A deterministic per-document length: lognormal around the manifest mean (heavy-tailed, cv ~1.3)."""
    mean = SOURCES[source][1]
    h = int.from_bytes(hashlib.blake2b(f"{source}:{index}".encode(), digest_size=8).digest(), "little")
    u1, u2 = ((h & 0xFFFFFFFF) + 0.5) / 2**32, ((h >> 32) + 0.5) / 2**32
    z = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
    return max(1, int(mean * math.exp(sigma * z - sigma**2 / 2)))


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


def test_token_shares_within_half_a_point_per_million_tokens_with_feedback():
    plan = SamplingPlan(mixture(), doc_tokens=doc_length)
    worst, overall = window_deviations(plan, doc_length, windows=15)
    assert worst < 0.005, f"worst 1M-token window off by {worst * 100:.3f} points"
    assert overall < 0.001


def test_token_shares_from_mean_lengths_converge_without_feedback():
    # Open loop the schedule is exact in expected tokens; heavy-tailed lengths make single 1M windows
    # wander (~1-3 points, see the module docstring) but the whole run lands on the weights.
    worst, overall = window_deviations(SamplingPlan(mixture()), doc_length, windows=15)
    assert overall < 0.005, f"overall off by {overall * 100:.3f} points"
    # with lengths equal to the manifest means every window is exact to one document
    exact = window_deviations(SamplingPlan(mixture()), lambda s, i: SOURCES[s][1], windows=5)[0]
    assert exact < 0.001


def test_document_counts_track_rates_at_every_prefix():
    plan = SamplingPlan(mixture())
    rates = {s: w / m for s, (w, m, _) in SOURCES.items()}
    total_rate = sum(rates.values())
    counts = dict.fromkeys(SOURCES, 0)
    for n in range(1, 20_001):
        counts[plan.next()[0]] += 1
        if n % 97 == 0:
            for s in SOURCES:
                assert abs(counts[s] - n * rates[s] / total_rate) < 1.0 + 1e-9


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
    for kwargs in ({}, {"doc_tokens": doc_length}, {"process_index": 1, "process_count": 3}):
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
    with pytest.raises(ValueError, match="process_count"):
        SamplingPlan(mixture(), process_count=2).set_state(state)
    other = dict(SOURCES, math=(0.0, 10, 10))
    with pytest.raises(ValueError, match="sources"):
        SamplingPlan(mixture(other)).set_state(state)


def test_process_sharding_is_disjoint_and_complete():
    hosts = 4
    full = SamplingPlan(mixture()).take(4000)
    per_host = [SamplingPlan(mixture(), process_index=h, process_count=hosts).take(1000) for h in range(hosts)]
    # host h takes global picks h, h + 4, ...: interleaving the hosts rebuilds the global stream
    assert list(itertools.chain.from_iterable(zip(*per_host))) == full
    seen = [set(p) for p in per_host]
    for a, b in itertools.combinations(range(hosts), 2):
        assert not seen[a] & seen[b]            # within the first epoch no document goes to two hosts


def test_zero_weight_sources_are_listed_but_never_picked():
    plan = SamplingPlan(mixture(dict(SOURCES, math=(0.0, 10, 10))))
    assert plan.sources == ["code", "math", "synthetic", "text"]
    assert "math" not in {s for s, _ in plan.take(5000)}


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="process_index"):
        SamplingPlan(mixture(), process_index=2, process_count=2)
    with pytest.raises(ValueError, match="no source with a positive weight"):
        SamplingPlan(mixture({"text": (0.0, 10, 10)}))
    with pytest.raises(ValueError, match="no documents"):
        SamplingPlan({"sources": {"text": {"weight": 1.0, "documents": 0, "available_tokens": 0}}})
