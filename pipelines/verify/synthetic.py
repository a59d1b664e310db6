"""Keep a synthetic problem only if its solution passes its own tests in the sandbox.

Synthetic Documents (pipelines/sources/synthetic.py): text = prompt + "\\n" + solution; meta carries
"tests" (asserts, or HumanEval's `def check(candidate)`), and may carry "solution", "prompt",
"prompt_chars", "entry_point" and "test_setup" (MBPP). The solution runs as module `solution`, then
the setup code and the tests (whatever schema: asserts, check(candidate), unittest, pytest-style), in
their own process; the verdict is the sandbox's (sandbox/execution.py): a pass needs an assertion that ran,
a call into the solution and every collected test passed. A bad entry point is a reject, never ignored.
When meta lacks the solution it is recovered from the text (the text minus the prompt); tests must
be in meta: text alone cannot say which asserts are tests.
"""
from __future__ import annotations

import ast
import dataclasses

from pipelines.document import Document
from sandbox.collect import AST_LOCK
from sandbox.execution import SandboxConfig, run_tests


@dataclasses.dataclass(frozen=True)
class VerifyConfig:
    sandbox: SandboxConfig = SandboxConfig()
    # Larger programs are rejected unexecuted: a synthetic exercise is a few KB.
    max_program_chars: int = 100_000
    # Solution recovery from text: at most this many leading lines are tried as prompt.
    max_prompt_lines: int = 100


@dataclasses.dataclass(frozen=True)
class TestSpec:
    """What the harness runs: the solution, then setup and tests in its namespace, then check(entry_point)."""
    __test__ = False   # not a pytest class
    solution: str
    tests: str
    setup: str = ""
    entry_point: str | None = None

    def chars(self) -> int:
        return len(self.solution) + len(self.tests) + len(self.setup)


def _parses(source: str) -> bool:
    try:
        with AST_LOCK:      # CPython 3.11: AST conversion is not thread-safe (see sandbox.collect)
            ast.parse(source)
        return True
    except (SyntaxError, ValueError):
        return False


def solution_of(doc: Document, max_prompt_lines: int = 100) -> str:
    """meta["solution"]; else, with the prompt's length from the reader, the whole text when it is
    one program (HumanEval-style: the solution completes the prompt's code) or the solution alone
    (a prose prompt); else the text after meta["prompt"]; else the longest parseable suffix."""
    solution = doc.meta.get("solution")
    if isinstance(solution, str):
        return solution
    cut = doc.meta.get("prompt_chars")
    if isinstance(cut, int) and not isinstance(cut, bool) and 0 <= cut < len(doc.text) and doc.text[cut] == "\n":
        return doc.text if _parses(doc.text) else doc.text[cut + 1:]
    prompt = doc.meta.get("prompt")
    if isinstance(prompt, str) and doc.text.startswith(prompt + "\n"):
        return doc.text[len(prompt) + 1:]
    lines = doc.text.split("\n")
    for start in range(min(len(lines), max_prompt_lines + 1)):
        suffix = "\n".join(lines[start:])
        if suffix.strip() and _parses(suffix):
            return suffix
    return doc.text   # nothing parses: the sandbox reports the syntax error


def spec_for(doc: Document, cfg: "VerifyConfig | None" = None) -> tuple[TestSpec | None, str | None]:
    """(spec, None) to run, or (None, reason) when there is nothing valid to run."""
    tests = doc.meta.get("tests")
    if not isinstance(tests, str) or not tests.strip():
        return None, "no_tests: meta has no tests"
    max_lines = cfg.max_prompt_lines if cfg is not None else VerifyConfig.max_prompt_lines
    setup = doc.meta.get("test_setup")
    entry = doc.meta.get("entry_point")   # checked by the sandbox (sandbox/collect.py): a bad one is a reject
    entry = entry if isinstance(entry, str) else None
    return TestSpec(solution_of(doc, max_lines), tests, setup if isinstance(setup, str) else "", entry), None


def program_for(doc: Document, cfg: "VerifyConfig | None" = None) -> tuple[str | None, str | None]:
    """The spec as one readable program (solution, setup, tests, check call), or (None, reason)."""
    spec, reason = spec_for(doc, cfg)
    if spec is None:
        return None, reason
    entry = (spec.entry_point or "").strip()
    call = f"\ncheck({entry})\n" if entry.isidentifier() and "def check(" in spec.tests else ""
    return "\n".join(p for p in (spec.solution, spec.setup, spec.tests) if p) + call, None


def verify_spec(spec: TestSpec, cfg: VerifyConfig = VerifyConfig()) -> str | None:
    """None when the tests ran to their end and passed in the sandbox; otherwise the reason."""
    if spec.chars() > cfg.max_program_chars:
        return f"program_too_large: {spec.chars()} > {cfg.max_program_chars} chars"
    return run_tests(spec.solution, spec.tests, cfg.sandbox, entry_point=spec.entry_point, setup=spec.setup).reason


def verification_reason(doc: Document, cfg: VerifyConfig = VerifyConfig()) -> str | None:
    """None only when the harness reports that every test passed; otherwise the reason."""
    spec, reason = spec_for(doc, cfg)
    return reason if spec is None else verify_spec(spec, cfg)
