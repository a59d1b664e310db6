"""HumanEval/MBPP scoring: canonical solutions pass, wrong ones fail, in the real sandbox; pass@k estimator."""
import json
import math
from itertools import combinations

import pytest

from evals import code

MBPP_ROWS = [
    {"task_id": 2, "text": "Write a function to find the shared elements from the given two lists.",
     "code": "def similar_elements(test_tup1, test_tup2):\n  res = tuple(set(test_tup1) & set(test_tup2))\n"
             "  return (res) ",
     "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                   "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))"]},
    {"task_id": 3, "text": "Write a python function to identify non-prime numbers.",
     "code": "import math\ndef is_not_prime(n):\n    result = False\n    for i in range(2,int(math.sqrt(n)) + 1):\n"
             "        if n % i == 0:\n            result = True\n    return result",
     "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True",
                   "assert is_not_prime(35) == True"]},
]


def test_pass_at_k_matches_the_combinatorial_definition():
    for n, c, k in [(10, 3, 1), (10, 3, 5), (5, 0, 2), (5, 5, 3), (20, 7, 10)]:
        want = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert code.pass_at_k(n, c, k) == pytest.approx(want)
        # = the chance that a random k-subset of the n samples contains a pass
        samples = [True] * c + [False] * (n - c)
        if n <= 10:
            subsets = list(combinations(range(n), k))
            assert code.pass_at_k(n, c, k) == pytest.approx(sum(any(samples[i] for i in s) for s in subsets)
                                                            / len(subsets))
    with pytest.raises(ValueError):
        code.pass_at_k(3, 1, 5)


def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail():
    problems = code.load_humaneval(limit=12)
    assert len(code.load_humaneval()) == 164
    right = code.execute(problems, [[p.reference] for p in problems])
    wrong = code.execute(problems, [["    return None\n"] for p in problems])
    assert code.score(problems, right)["pass@1"] == 1.0
    assert code.score(problems, wrong)["pass@1"] == 0.0


def test_mbpp_canonical_passes_wrong_and_hostile_fail(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in MBPP_ROWS))
    problems = code.load_mbpp(str(path))
    assert [p.task_id for p in problems] == ["mbpp/2", "mbpp/3"]
    assert problems[0].prompt.startswith('"""\nWrite a function') and "similar_elements((3, 4" in problems[0].prompt
    mixed = [[p.reference, "def nothing():\n    pass\n", "import os\nos.system('echo hi')\n"] for p in problems]
    outcomes = code.execute(problems, mixed)
    assert [[o.passed for o in row] for row in outcomes] == [[True, False, False]] * 2
    assert "sandbox_violation" in outcomes[0][2].reason          # untrusted code meets the sandbox, not us
    result = code.score(problems, outcomes, ks=(1, 2, 3))
    assert result["pass@1"] == pytest.approx(1 / 3) and result["pass@3"] == 1.0
    assert result["pass@2"] == pytest.approx(1 - math.comb(2, 2) / math.comb(3, 2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": 1, "text": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        code.load_mbpp(str(bad))


def test_generated_completions_are_executed_and_scored(loaded):
    from evals.lm import TextModel

    problems = code.load_humaneval(limit=3)
    model = TextModel(loaded, batch_size=4)
    completions = code.generate(model, problems, max_new_tokens=16)
    assert [len(c) for c in completions] == [1, 1, 1]
    assert all(not any(s in c[0] for s in problems[0].stop) for c in completions)   # cut at stop sequences
    result = code.score(problems, code.execute(problems, completions))
    assert result["pass@1"] == 0.0 and result["problems"] == 3     # a 12-step D=32 model solves nothing
    assert completions == code.generate(model, problems, max_new_tokens=16)        # greedy: reproducible


@pytest.mark.slow
def test_all_humaneval_canonical_solutions_pass():
    problems = code.load_humaneval()
    result = code.score(problems, code.execute(problems, [[p.reference] for p in problems], workers=2))
    assert result["pass@1"] == 1.0, [t for t, c in result["per_task"].items() if c == 0]
