"""What the verifier reads from tests before anything runs: schema faults and the assertion counter."""
import ast

import pytest

from sandbox import collect


def reason(tests, entry=None):
    return collect.plan(tests, entry)[1]


@pytest.mark.parametrize("tests, expected", [
    ("print(add(1, 2))\n", "no_tests: tests contain no assert"),
    ("assert (add(1, 2) == 3, 'msg')\n", "weak_tests: assert on a tuple is always true (tests.py line 1)"),
    ("add(1, 2)\nassert True\n", "weak_tests: every assert is a constant (tests.py line 2)"),
    ("import unittest\nclass T(unittest.TestCase):\n    def test(self):\n        self.assertTrue(1)\n",
     "weak_tests: every assert is a constant (tests.py line 4)"),
    ("def check(candidate):\n    assert candidate(1) == 2\n", "bad_entry_point: the tests define check(candidate) "
     "but the record names no entry point"),
])
def test_tests_that_cannot_prove_anything_are_named(tests, expected):
    assert reason(tests) == expected


@pytest.mark.parametrize("entry, call", [("inc", "inc"), (" inc\n", "inc"), ("Solution().inc", None), ("", None),
                                         ("class", None), (3, None)])
def test_entry_points(entry, call):
    plan, why = collect.plan("def check(candidate):\n    assert candidate(1) == 2\n", entry)
    if call is None:
        assert plan is None and why.startswith("bad_entry_point")
    else:
        assert why is None and plan.call_check == call


def test_check_called_by_the_tests_needs_no_entry_point():
    plan, why = collect.plan("def check(candidate):\n    assert candidate(1) == 2\ncheck(inc)\n", None)
    assert why is None and plan.call_check is None


def test_every_asserting_statement_is_counted_and_lines_are_kept():
    tests = ("assert f(1) == 1\nif __name__ == '__main__':\n    assert f(2) == 2\n"
             "class T:\n    def test(self):\n        self.assertEqual(f(3), 3)\n        with self.assertRaises(E):\n"
             "            f(-1)\n")
    plan, _ = collect.plan(tests, None)
    counters = [n for n in ast.walk(plan.tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") ==
                collect.COUNTER]
    assert len(counters) == 4
    assert {n.lineno for n in counters} == {1, 3, 6, 7}


def test_syntax_errors_are_left_to_the_harness():
    assert collect.plan("assert (\n", None) == (None, None)
