"""The one place evals runs untrusted code: the project sandbox package (sandbox/execution.py, the one
curate verifies synthetic solutions with: seccomp, Landlock, namespaces, rlimits; strict by default, so a
machine without the kernel layers refuses to run completions instead of running them unconfined).

Every generated completion goes through `run_solution`, which returns curate's verdict (the same
`sandbox.execution.run_tests`: tests and completion in two processes, a pass only when an assertion ran,
the tests called the completion and every collected test passed). Another sandbox API is a change here only.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str | None      # None when passed; the sandbox's "<kind>: <detail>" otherwise


def run_solution(solution: str, tests: str, *, entry_point: str | None = None, setup: str = "",
                 timeout_s: float = 10.0) -> Outcome:
    """Run `solution`, then `setup` and `tests` in its namespace, then `check(entry_point)` when given
    (HumanEval's convention); passed only when the sandbox's harness reports that the tests passed."""
    from sandbox.execution import SandboxConfig, run_tests

    cfg = SandboxConfig(cpu_seconds=max(1, int(timeout_s // 2)), wall_seconds=timeout_s)
    verdict = run_tests(solution, tests, cfg, entry_point=entry_point, setup=setup)
    return Outcome(verdict.ok, verdict.reason)
