"""What a record's tests mean, read before anything runs (in the verifier, on trusted ground).

Tests come in several schemas: plain asserts in order; HumanEval's `def check(candidate)` called with the
record's entry point; unittest TestCases; pytest-style `test_*` functions and `Test*` classes; any of these
under `if __name__ == "__main__":`. This module rejects what cannot be a test (`no_tests`, `weak_tests`,
`bad_entry_point`) and instruments every assertion (`assert` statements, `self.assert*`/`fail*` calls) with a
counter, so the harness knows how many ran: a pass needs at least one, and every collected test passed.
"""
from __future__ import annotations

import ast
import dataclasses
import keyword
import threading

COUNTER = "__verdict_assert__"


@dataclasses.dataclass(frozen=True)
class TestPlan:
    __test__ = False        # not a pytest class
    tree: ast.Module        # the tests, each assertion preceded by a call to COUNTER
    call_check: str | None  # the entry point to call check() with, when the tests do not call it themselves


def _is_assert_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith(("assert", "fail")))


def _assertions(tree: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Assert) or _is_assert_call(n)]


def _constant(node: ast.AST) -> bool:
    """True when the assertion can only ever have one outcome: no name, attribute, call or subscript in it."""
    expr = node.test if isinstance(node, ast.Assert) else ast.Tuple(node.args, ast.Load())
    return not any(isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Starred, ast.NamedExpr))
                   for n in ast.walk(expr))


def _top_level_calls(tree: ast.Module, name: str) -> bool:
    """Does module-level code (main blocks included, function and class bodies not) call `name`?"""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


class _Counter(ast.NodeTransformer):
    """Put `COUNTER()` before every statement that asserts (an assert, an assert* call, a with assertRaises)."""

    def generic_visit(self, node):
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                out = []
                for stmt in stmts:
                    asserting = isinstance(stmt, ast.Assert) or (
                        isinstance(stmt, ast.Expr) and _is_assert_call(stmt.value)) or (
                        isinstance(stmt, (ast.With, ast.AsyncWith))
                        and any(_is_assert_call(item.context_expr) for item in stmt.items))
                    if asserting:
                        call = ast.Expr(ast.Call(ast.Name(COUNTER, ast.Load()), [], []))
                        out.append(ast.copy_location(call, stmt))
                    out.append(stmt)
                setattr(node, field, out)
        return node


# CPython 3.11 keeps the AST converter's recursion depth in shared state: two threads converting at once
# raise "SystemError: AST constructor recursion depth mismatch" (evals code verifies in a thread pool,
# Beam's DirectRunner may run DoFns in threads). Every AST <-> object conversion here holds this lock.
AST_LOCK = threading.Lock()


def plan(tests: str, entry_point: object) -> tuple[TestPlan | None, str | None]:
    """(plan, None), or (None, reason) for tests that cannot prove anything; (None, None) when the tests do
    not parse (the harness reports the syntax error with its line)."""
    try:
        with AST_LOCK:
            tree = ast.parse(tests, "tests.py")
    except (SyntaxError, ValueError):
        return None, None
    assertions = _assertions(tree)
    if not assertions:
        return None, "no_tests: tests contain no assert"
    for node in assertions:
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Tuple) and node.test.elts:
            return None, f"weak_tests: assert on a tuple is always true (tests.py line {node.lineno})"
    if all(_constant(node) for node in assertions):
        return None, f"weak_tests: every assert is a constant (tests.py line {assertions[0].lineno})"
    call_check = None
    defines_check = any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in tree.body)
    if defines_check and not _top_level_calls(tree, "check"):
        entry = entry_point.strip() if isinstance(entry_point, str) else ""
        if not entry:
            return None, "bad_entry_point: the tests define check(candidate) but the record names no entry point"
        if not entry.isidentifier() or keyword.iskeyword(entry):
            return None, f"bad_entry_point: {entry_point!r} is not a function name"
        call_check = entry
    return TestPlan(ast.fix_missing_locations(_Counter().visit(tree)), call_check), None
