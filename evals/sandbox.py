"""The one place evals runs untrusted code: the project's sandbox (pipelines/verify/sandbox.py, as curate uses it).

Every generated completion goes through `run_program`; swapping in another sandbox API (e.g. a
`run_tests`-style one) is a change to this function only.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str | None      # None when passed; the sandbox's "<kind>: <detail>" otherwise


def run_program(program: str, timeout_s: float = 10.0) -> Outcome:
    """Run `program` (solution + its tests) in the sandbox; passed = exited 0 within every limit."""
    from pipelines.verify.sandbox import SandboxConfig, run_python

    result = run_python(program, SandboxConfig(cpu_seconds=max(1, int(timeout_s // 2)), wall_seconds=timeout_s))
    return Outcome(result.ok, result.reason)
