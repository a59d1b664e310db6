"""Keep a synthetic problem only if its solution passes its own tests in the sandbox.

Synthetic Documents (pipelines/sources/synthetic.py): text = prompt + "\\n" + solution, and meta
carries "prompt", "solution" and "tests" (Python source with asserts). The program
run is solution + "\\n" + tests. When meta lacks the solution it is recovered from
the text (the text minus the prompt prefix); tests must be in meta: text alone
cannot say which asserts are tests.
"""
from __future__ import annotations

import ast
import dataclasses

from pipelines.document import Document
from pipelines.verify.sandbox import SandboxConfig, run_python


@dataclasses.dataclass(frozen=True)
class VerifyConfig:
    sandbox: SandboxConfig = SandboxConfig()
    # Larger programs are rejected unexecuted: a synthetic exercise is a few KB.
    max_program_chars: int = 100_000
    # Tests without a single assert (or unittest-style assert* call) prove nothing.
    require_asserts: bool = True
    # Solution recovery from text: at most this many leading lines are tried as prompt.
    max_prompt_lines: int = 100


def _parses(source: str) -> bool:
    try:
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


def _has_assert(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("assert"):
                return True
    return False


def program_for(doc: Document, cfg: "VerifyConfig | None" = None) -> tuple[str | None, str | None]:
    """(program, None) to run, or (None, reason) when there is nothing valid to run."""
    tests = doc.meta.get("tests")
    if not isinstance(tests, str) or not tests.strip():
        return None, "no_tests: meta has no tests"
    max_lines = cfg.max_prompt_lines if cfg is not None else VerifyConfig.max_prompt_lines
    return solution_of(doc, max_lines) + "\n" + tests, None


def verification_reason(doc: Document, cfg: VerifyConfig = VerifyConfig()) -> str | None:
    """None only when solution + tests exit 0 in the sandbox; otherwise the sandbox's reason."""
    program, reason = program_for(doc, cfg)
    if program is None:
        return reason
    if len(program) > cfg.max_program_chars:
        return f"program_too_large: {len(program)} > {cfg.max_program_chars} chars"
    if cfg.require_asserts:
        try:
            tree = ast.parse(doc.meta["tests"])
        except (SyntaxError, ValueError) as err:
            return f"syntax_error: tests: {getattr(err, 'msg', err)}"
        if not _has_assert(tree):
            return "no_tests: tests contain no assert"
    return run_python(program, cfg.sandbox).reason
