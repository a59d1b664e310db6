from fractions import Fraction

import pytest

from mixer.shares import MixSpec, PlanError, allocate, float_weights, parse_weights, resolve_shares


def test_code_25_synth_10_is_75_22_5_2_5():
    shares = resolve_shares(MixSpec(code=25, synth=10), {})
    assert shares == {"text": Fraction(3, 4), "code": Fraction(225, 1000), "synthetic": Fraction(25, 1000)}
    assert float_weights(shares) == {"code": 0.225, "synthetic": 0.025, "text": 0.75}


def test_markup_and_adjacent_come_out_of_web_code():
    available = {"commits": 300, "notebooks": 100, "stackexchange": 600, "code": 10**6}
    shares = resolve_shares(MixSpec(code=50, markup=20, adjacent=15), available)
    assert shares["text"] == Fraction(1, 2)
    assert shares["markup"] == Fraction(1, 10)                       # 20% of 50%
    assert shares["code"] == Fraction(1, 2) * Fraction(65, 100)      # 100 - 20 - 15 = 65% of the code share
    adjacent = Fraction(1, 2) * Fraction(15, 100)
    # split by available tokens: 300 / 100 / 600 of 1000
    assert shares["commits"] == adjacent * Fraction(3, 10)
    assert shares["notebooks"] == adjacent * Fraction(1, 10)
    assert shares["stackexchange"] == adjacent * Fraction(6, 10)
    assert sum(shares.values()) == 1


def test_adjacent_uses_only_present_sources():
    shares = resolve_shares(MixSpec(code=40, adjacent=25), {"notebooks": 5})
    assert shares["notebooks"] == Fraction(40, 100) * Fraction(25, 100)
    assert "commits" not in shares and "stackexchange" not in shares
    with pytest.raises(PlanError, match="needs at least one of commits, notebooks, stackexchange"):
        resolve_shares(MixSpec(code=40, adjacent=25), {"code": 10})


def test_code_0_and_100_drop_the_empty_side():
    assert resolve_shares(MixSpec(code=0), {}) == {"text": 1}
    assert resolve_shares(MixSpec(code=100, markup=20), {}) == {"code": Fraction(4, 5), "markup": Fraction(1, 5)}


@pytest.mark.parametrize("spec,message", [
    (MixSpec(code=101), "--code 101.*over 100"),
    (MixSpec(code=-5), "--code -5.*negative"),
    (MixSpec(code=50, synth=-1), "--synth -1.*negative"),
    (MixSpec(code=50, markup=150), "--markup 150.*over 100"),
    (MixSpec(code=50, synth=60, markup=30, adjacent=20), "= 110% of the code share: over 100%"),
])
def test_refuses_impossible_shares(spec, message):
    with pytest.raises(PlanError, match=message):
        resolve_shares(spec, {"commits": 1})


def test_weights_are_relative_and_normalised():
    shares = resolve_shares(MixSpec(weights=parse_weights("text=50, code=25,math=25")), {})
    assert shares == {"text": Fraction(1, 2), "code": Fraction(1, 4), "math": Fraction(1, 4)}
    assert resolve_shares(MixSpec(weights=parse_weights("text=1,code=0")), {}) == {"text": 1}


@pytest.mark.parametrize("text,message", [("text=-1", ">= 0"), ("text", "expected source=number"),
                                          ("text=x", "not a number"), ("text=1,text=2", "twice"),
                                          ("text=0", "positive"), ("text=inf", "finite")])
def test_weights_refusals(text, message):
    with pytest.raises(PlanError, match=message):
        parse_weights(text)


def test_spec_needs_exactly_one_mode():
    with pytest.raises(PlanError):
        MixSpec()
    with pytest.raises(PlanError):
        MixSpec(code=10, weights=(("text", 1.0),))


def test_allocate_sums_exactly_and_is_fair():
    shares = {"a": Fraction(1, 3), "b": Fraction(1, 3), "c": Fraction(1, 3)}
    targets = allocate(10, shares)
    assert sum(targets.values()) == 10 and sorted(targets.values()) == [3, 3, 4]
    big = allocate(200 * 10**9, resolve_shares(MixSpec(code=25, synth=10), {}))
    assert big == {"text": 150 * 10**9, "code": 45 * 10**9, "synthetic": 5 * 10**9}


def test_float_weights_sum_to_one():
    shares = resolve_shares(MixSpec(code=33.3, synth=7, markup=11, adjacent=13), {"commits": 7, "notebooks": 11})
    assert abs(sum(float_weights(shares).values()) - 1) < 1e-15
