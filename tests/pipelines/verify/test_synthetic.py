"""Synthetic verification: documents shaped as the synthetic reader makes them (all three schemas)."""
import dataclasses
import functools
import pickle

from hypothesis import given, settings, strategies as st

from pipelines.document import Document
from sandbox.execution import SandboxConfig
from pipelines.verify.synthetic import VerifyConfig, program_for, verification_reason

CFG = VerifyConfig(sandbox=SandboxConfig(cpu_seconds=1, wall_seconds=3, memory_bytes=256 * 1024 * 1024))
PROMPT = "Write a function `is_palindrome(s)` that ignores case."
SOLUTION = "def is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]\n"
TESTS = "assert is_palindrome('Abba')\nassert not is_palindrome('abc')\n"


def synthetic(prompt=PROMPT, solution=SOLUTION, tests=TESTS, meta_solution=True):
    meta = {"prompt": prompt, "tests": tests}
    if meta_solution:
        meta["solution"] = solution
    return Document("id", "synthetic", prompt + "\n" + solution, meta)


def key(reason):
    return reason.split(":")[0] if reason else None


def test_passing_solution_is_kept():
    assert verification_reason(synthetic(), CFG) is None


def test_solution_recovered_from_text_when_meta_lacks_it():
    doc = synthetic(meta_solution=False)
    assert program_for(doc)[0] == SOLUTION + "\n" + TESTS
    assert verification_reason(doc, CFG) is None


def test_wrong_solution_fails_its_tests():
    doc = synthetic(solution="def is_palindrome(s):\n    return s == s[::-1]\n")
    assert key(verification_reason(doc, CFG)) == "tests_failed"


def test_missing_or_empty_tests():
    assert verification_reason(synthetic(tests=""), CFG) == "no_tests: meta has no tests"
    doc = Document("id", "synthetic", PROMPT + "\n" + SOLUTION, {"solution": SOLUTION})
    assert key(verification_reason(doc, CFG)) == "no_tests"


def test_tests_without_asserts_prove_nothing():
    assert verification_reason(synthetic(tests="is_palindrome('x')\n"), CFG) == "no_tests: tests contain no assert"
    unittest_style = "import unittest\nunittest.TestCase().assertTrue(is_palindrome('aa'))\n"
    assert verification_reason(synthetic(tests=unittest_style), CFG) is None


def test_syntax_errors():
    assert key(verification_reason(synthetic(solution="def is_palindrome(s) return s\n"), CFG)) == "syntax_error"
    assert key(verification_reason(synthetic(tests="assert (\n"), CFG)) == "syntax_error"


def test_hostile_and_runaway_solutions():
    hang = synthetic(solution="def is_palindrome(s):\n    while True:\n        pass\n")
    # A generous wall limit: on a loaded machine 1 s of CPU can take several seconds of wall time.
    patient = dataclasses.replace(CFG, sandbox=dataclasses.replace(CFG.sandbox, wall_seconds=30))
    assert key(verification_reason(hang, patient)) == "cpu_limit"
    net = synthetic(solution="import socket\nsocket.socket().connect(('127.0.0.1', 80))\n" + SOLUTION)
    assert verification_reason(net, CFG) == "sandbox_violation: socket.__new__"


def test_program_size_cap():
    cfg = dataclasses.replace(CFG, max_program_chars=50)
    assert key(verification_reason(synthetic(), cfg)) == "program_too_large"


def test_filter_pickles_for_beam():
    f = pickle.loads(pickle.dumps(functools.partial(verification_reason, cfg=CFG)))
    assert f(synthetic()) is None


@settings(max_examples=25, deadline=None)
@given(solution=st.text(max_size=200), tests=st.text(max_size=200))
def test_arbitrary_programs_never_raise(solution, tests):
    reason = verification_reason(synthetic(solution=solution, tests=tests), CFG)
    assert reason is None or (isinstance(reason, str) and ":" in reason)


def test_solution_recovered_without_prompt_or_solution_in_meta():
    # The synthetic reader may carry only meta["tests"]: a prose prompt is stripped ...
    doc = Document("id", "synthetic", PROMPT + "\nIt must run in linear time.\n" + SOLUTION, {"tests": TESTS})
    assert program_for(doc)[0] == SOLUTION + "\n" + TESTS
    assert verification_reason(doc, CFG) is None
    # ... and a prompt that is a Python stub is kept (the solution redefines it).
    stub = "def is_palindrome(s):\n    \"\"\"True if s reads the same backwards.\"\"\"\n"
    doc = Document("id", "synthetic", stub + "\n" + SOLUTION, {"tests": TESTS})
    assert program_for(doc)[0].startswith(stub)
    assert verification_reason(doc, CFG) is None
    # A broken solution after a prose prompt still fails.
    doc = Document("id", "synthetic", PROMPT + "\ndef is_palindrome(s):\n    return s == s[::-1]\n", {"tests": TESTS})
    assert key(verification_reason(doc, CFG)) == "tests_failed"


def test_solution_is_cut_exactly_at_prompt_chars_from_the_reader():
    import io
    import json

    from pipelines.sources import synthetic
    from pipelines.verify.synthetic import solution_of

    def doc(prompt, solution):
        line = json.dumps({"id": "t1", "prompt": prompt, "solution": solution, "tests": "assert f(1) == 2"})
        (d,) = synthetic.parse(io.BytesIO(line.encode()), "synthetic/x.jsonl")
        assert d.meta["prompt_chars"] == len(prompt)
        return d

    # A prose prompt whose last line happens to parse as code: only the solution runs.
    prose = "Write f(x) that adds one.\nx = 1"
    assert solution_of(doc(prose, "def f(x):\n    return x + 1")) == "def f(x):\n    return x + 1"
    # HumanEval style: the solution completes the prompt's function, the whole text runs.
    code = 'def f(x):\n    """Add one."""'
    assert solution_of(doc(code, "    return x + 1")) == code + "\n    return x + 1"
