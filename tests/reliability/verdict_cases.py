"""Wrong solutions that a verdict taken from "the tests module finished" keeps (17a5377 kept every one), each with
the reason the verdict built from executed tests gives. Pure data: no project import, so the same list can be
run against another checkout.

Every case is a record as curate reads it (solution, tests, optional entry_point / setup); `add` is always
wrong (it subtracts) unless the case says otherwise. To see what another checkout does with them:

    PYTHONPATH=/path/to/checkout python tests/reliability/verdict_cases.py    # name -> reason (None: kept)
"""
from __future__ import annotations

import dataclasses

WRONG = "def add(a, b):\n    return a - b\n"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    tests: str
    reason: str                    # the reason key the new verdict gives
    solution: str = WRONG
    entry_point: str | None = None
    setup: str = ""


_FRAME_FORGE = '''
import os, sys
def _forge():
    frame = sys._getframe()
    while frame is not None:
        report = frame.f_locals.get("report")
        if callable(report) and "nonce" in getattr(report, "__code__", add.__code__).co_freevars:
            report("PASS")
            os._exit(0)
        frame = frame.f_back
_forge()
'''

CASES = [
    # ---- test layouts that ran nothing on 17a5377
    Case("pytest_function_never_called", "def test_add():\n    assert add(2, 2) == 4\n", "tests_failed"),
    Case("pytest_class_not_a_testcase", "class TestAdd:\n    def test_add(self):\n        assert add(2, 2) == 4\n",
         "tests_failed"),
    Case("unittest_imported_plain_functions", "import unittest\n\ndef test_add():\n    assert add(2, 2) == 4\n",
         "tests_failed"),
    Case("tests_under_main_guard", "if __name__ == '__main__':\n    assert add(2, 2) == 4\n", "tests_failed"),
    Case("check_without_entry_point", "def check(candidate):\n    assert candidate(2, 2) == 4\n", "bad_entry_point"),
    Case("entry_point_is_an_expression", "def check(candidate):\n    assert candidate(2, 2) == 4\n",
         "bad_entry_point", solution="class Solution:\n    def add(self, a, b):\n        return a - b\n",
         entry_point="Solution().add"),
    Case("entry_point_empty", "def check(candidate):\n    assert candidate(2, 2) == 4\n", "bad_entry_point",
         entry_point=""),
    Case("entry_point_trailing_space", "def check(candidate):\n    assert candidate(2, 2) == 4\n", "tests_failed",
         entry_point="add "),
    Case("unittest_skip", "import unittest\n\nclass T(unittest.TestCase):\n    @unittest.skip('later')\n"
         "    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n", "tests_not_passed"),
    Case("unittest_skiptest_call", "import unittest\n\nclass T(unittest.TestCase):\n    def test_add(self):\n"
         "        self.skipTest('flaky')\n        self.assertEqual(add(2, 2), 4)\n", "tests_not_passed"),
    Case("unittest_expected_failure", "import unittest\n\nclass T(unittest.TestCase):\n"
         "    @unittest.expectedFailure\n    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n",
         "tests_not_passed"),
    Case("assert_on_a_tuple", "assert (add(2, 2) == 4, 'add is wrong')\n", "weak_tests"),
    Case("assert_constants_only", "add(2, 2)\nassert True\nassert 1 + 1 == 2\n", "weak_tests"),
    Case("unittest_asserts_constants", "import unittest\n\nclass T(unittest.TestCase):\n    def test_add(self):\n"
         "        add(2, 2)\n        self.assertTrue(True)\n", "weak_tests"),
    Case("assert_the_function_object", "assert add\n", "no_test_ran"),
    Case("tests_never_call_the_solution", "EXPECTED = 4\nassert EXPECTED == 2 + 2\n", "no_test_ran"),
    Case("doctest_only", "import doctest\n\ndef _examples():\n    '''\n    >>> add(2, 2)\n    4\n    '''\n\n"
         "assert doctest.testmod().failed == 0\n", "no_test_ran"),
    # ---- reward hacks: the comparison or a builtin is the solution's
    Case("eq_always_true", "assert add(2, 2) == 4\n", "unplain_return",
         solution="class _A:\n    def __eq__(self, other):\n        return True\n\ndef add(a, b):\n    return _A()\n"),
    Case("int_subclass_eq", "assert add(2, 2) == 4\n", "unplain_return",
         solution="class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n\n"
                  "def add(a, b):\n    return I(a - b)\n"),
    Case("float_subclass_sub", "assert abs(add(0.1, 0.2) - 0.3) < 1e-9\n", "unplain_return",
         solution="class F(float):\n    def __sub__(self, other):\n        return 0.0\n\n"
                  "def add(a, b):\n    return F(a - b)\n"),
    Case("str_subclass_in_a_tuple", "assert add('a', 'b') == ('ab',)\n", "unplain_return",
         solution="class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n\n"
                  "def add(a, b):\n    return (S(a),)\n"),
    Case("patched_builtins_abs", "assert abs(add(1.0, 2.0) - 3.0) < 1e-9\n", "tests_failed",
         solution="import builtins\nbuiltins.abs = lambda x: 0\n" + WRONG),
    Case("patched_builtins_isinstance", "assert isinstance(add(1, 2), int)\n", "tests_failed",
         solution="import builtins\nbuiltins.isinstance = lambda *a: True\n\ndef add(a, b):\n    return str(a + b)\n"),
    Case("patched_math_isclose", "import math\nassert math.isclose(add(0.1, 0.2), 0.3)\n", "tests_failed",
         solution="import math\nmath.isclose = lambda *a, **k: True\n" + WRONG),
    Case("replaced_sys_modules_math", "import math\nassert math.isclose(add(0.1, 0.2), 0.3)\n", "tests_failed",
         solution="import sys, types\nfake = types.ModuleType('math')\nfake.isclose = lambda *a, **k: True\n"
                  "sys.modules['math'] = fake\n" + WRONG),
    Case("replaced_sys_modules_unittest", "import unittest\n\nclass T(unittest.TestCase):\n    def test_add(self):\n"
         "        self.assertEqual(add(2, 2), 4)\n", "tests_failed",
         solution="import sys, types\nfake = types.ModuleType('unittest')\n"
                  "class TestCase:\n    def assertEqual(self, *a):\n        pass\n"
                  "fake.TestCase = TestCase\nfake.main = lambda *a, **k: None\nsys.modules['unittest'] = fake\n" + WRONG),
    Case("generator_yields_a_liar", "assert list(add(2, 2)) == [4]\n", "unplain_return",
         solution="class _A:\n    def __eq__(self, other):\n        return True\n\ndef add(a, b):\n    yield _A()\n"),
    Case("frame_walk_forges_the_report", "assert add(2, 2) == 4\n", "tests_failed", solution=WRONG + _FRAME_FORGE),
]


if __name__ == "__main__":
    from pipelines.document import Document
    from pipelines.verify.synthetic import verification_reason
    for case in CASES:
        meta = {"solution": case.solution, "tests": case.tests}
        meta.update({"entry_point": case.entry_point} if case.entry_point is not None else {})
        meta.update({"test_setup": case.setup} if case.setup else {})
        print(f"{case.name}: {verification_reason(Document(case.name, 'synthetic', case.solution, meta))}")
