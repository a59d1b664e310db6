"""Synthetic verification throughput: the two-process verdict vs the one-process sandbox before it (and the
audit-hook sandbox before that).

All verify the same real problems (data/sample/synthetic: solution + tests, passing and failing ones),
one after the other on one thread, in alternating blocks so machine load hits all alike:
  ours      sandbox.execution.run_tests(solution, tests, SandboxConfig())  (seccomp, Landlock,
            namespaces, tmpfs, cgroup, subreaper sweep; tests and solution in two processes)
  ours, one process   sandbox.execution.run_python(solution + tests): the same layers, one interpreter
            (the difference to "ours" is what the second process and the proxies cost: the split)
  ours, no namespaces   the two-process run with namespaces off (what a worker without user namespaces gets)
  main      run_tests of the one-process verdict at commit MAIN (pipelines/verify/, loaded from git)
  baseline  run_python(solution + "\\n" + tests) of pipelines/sandbox.py at commit BASELINE (rlimits,
            netns as root, uid drop, audit hook), loaded from git so both run in the same process
Per core = solutions per CPU-second of the whole process tree (this process plus every waited-for
descendant: getrusage SELF + CHILDREN), which other jobs on a shared machine cannot inflate. Kernel work
done outside the tree (the asynchronous teardown of each run's network namespace in a kworker) is not in it.

    python -m benchmarks.verify [--quick] [--problems N] [--rounds R] [--no-record]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
import types

from benchmarks import results

BASELINE = "00f01f7"   # main before the kernel-enforced sandbox (pipelines/sandbox.py at 00f01f7)
MAIN = "17a5377"       # main before the two-process verdict (pipelines/verify/)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "sample", "synthetic")


def problems(limit: int) -> list[tuple[str, str]]:
    out = []
    for name in sorted(os.listdir(SAMPLE)):
        with open(os.path.join(SAMPLE, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and isinstance(obj.get("solution"), str) and isinstance(obj.get("tests"), str):
                    out.append((obj["solution"], obj["tests"]))
    return out[:limit]


def baseline_module() -> types.ModuleType:
    source = subprocess.run(["git", "-C", REPO, "show", f"{BASELINE}:pipelines/sandbox.py"], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("baseline_sandbox")
    module.__file__ = f"{BASELINE}:pipelines/sandbox.py"
    sys.modules[module.__name__] = module   # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def main_module() -> types.ModuleType:
    """pipelines/verify/ at MAIN as a package of its own (its modules read their files: written to a temp dir)."""
    import tempfile
    package = f"verify_{MAIN}"
    root = tempfile.mkdtemp(prefix="verify-peer-")
    os.mkdir(os.path.join(root, package))
    names = subprocess.run(["git", "-C", REPO, "ls-tree", "--name-only", f"{MAIN}:pipelines/verify/"], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        source = subprocess.run(["git", "-C", REPO, "show", f"{MAIN}:pipelines/verify/{name}"], check=True,
                                capture_output=True, text=True).stdout
        with open(os.path.join(root, package, name), "w", encoding="utf-8") as f:
            f.write(source.replace("pipelines.verify", package))
    sys.path.insert(0, root)
    import importlib
    return importlib.import_module(f"{package}.sandbox")


def _cpu() -> float:
    self_, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def measure(verify, items) -> tuple[float, float, int]:
    cpu, wall = _cpu(), time.perf_counter()
    passed = sum(1 for solution, tests in items if verify(solution, tests))
    return _cpu() - cpu, time.perf_counter() - wall, passed


def _quick(verify, problem: tuple[str, str]) -> bool:
    start = time.perf_counter()
    verify(*problem)
    return time.perf_counter() - start < 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 problems, 1 round (smoke mode)")
    ap.add_argument("--problems", type=int, default=100, help="problems per block (count)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating blocks per system (count)")
    ap.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md/results.json alone")
    args = ap.parse_args(argv)
    n, rounds = (20, 1) if args.quick else (args.problems, args.rounds)
    from sandbox.execution import SandboxConfig, run_python, run_tests
    old, peer = baseline_module(), main_module()
    cfg, old_cfg, peer_cfg = SandboxConfig(), old.SandboxConfig(), peer.SandboxConfig()
    no_ns = dataclasses.replace(cfg, namespaces=False)
    systems = {
        "ours": lambda s, t: run_tests(s, t, cfg).ok,
        "ours, one process": lambda s, t: run_python(s + "\n" + t, cfg).ok,
        "ours, no namespaces": lambda s, t: run_tests(s, t, no_ns).ok,
        "main": lambda s, t: peer.run_tests(s, t, peer_cfg).ok,
        "baseline": lambda s, t: old.run_python(s + "\n" + t, old_cfg).ok,
    }
    for verify in systems.values():   # warm-up: interpreter probes, seccomp compile, page cache
        measure(verify, problems(3))
    # Problems that run into the CPU/wall limit cost the limit itself, the same for both: left out.
    items = [p for p in problems(n + 20) if _quick(systems["baseline"], p)][:n]
    totals = {name: [0.0, 0.0, 0, 0] for name in systems}
    for _ in range(rounds):
        for name, verify in systems.items():
            cpu, wall, passed = measure(verify, items)
            t = totals[name]
            t[0] += cpu
            t[1] += wall
            t[2] += len(items)
            t[3] += passed
    rows = {name: {"solutions": t[2], "passed": t[3], "cpu_s": round(t[0], 2), "wall_s": round(t[1], 2),
                   "per_cpu_s": round(t[2] / t[0], 1), "per_wall_s": round(t[2] / t[1], 1)}
            for name, t in totals.items()}
    ratio = rows["ours"]["per_cpu_s"] / rows["baseline"]["per_cpu_s"]
    vs_main = rows["ours"]["per_cpu_s"] / rows["main"]["per_cpu_s"]
    split = 1 - rows["ours"]["per_cpu_s"] / rows["ours, one process"]["per_cpu_s"]
    table = ["| system | solutions | passed | CPU s | wall s | solutions / CPU-s (per core) | solutions / wall-s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    table += [f"| {name} | {r['solutions']} | {r['passed']} | {r['cpu_s']} | {r['wall_s']} | {r['per_cpu_s']} | "
              f"{r['per_wall_s']} |" for name, r in rows.items()]
    print("\n".join(table))
    print(f"\nratio ours/main ({MAIN}) per core: {vs_main:.2f}x (target >= 0.6x); ours/baseline: {ratio:.2f}x")
    print(f"split: the second process and the proxies take {split:.0%} of a two-process run's CPU")
    if rows["ours"]["passed"] != rows["baseline"]["passed"]:
        print(f"note: verdicts differ on this set: ours passed {rows['ours']['passed']}, "
              f"baseline {rows['baseline']['passed']}")
    if not args.quick and not args.no_record:
        command = "python -m benchmarks.verify " + " ".join(argv if argv is not None else sys.argv[1:])
        results.append_section(
            f"## Synthetic verification throughput (benchmarks/verify.py) - {results.today()}\n\n"
            f"Command: `{command.strip()}`. Machine: {results.machine()} ({results.load_avg()} at the end: "
            f"shared machine). {n} real problems from data/sample/synthetic per block, {rounds} alternating blocks "
            f"per system (problems that run into the CPU or wall limit left out), one thread, running as uid "
            f"{os.geteuid()}; per core = solutions per CPU-second of the "
            f"process tree. Main = pipelines/verify/ at {MAIN}; baseline = pipelines/sandbox.py at {BASELINE}.\n\n"
            + "\n".join(table)
            + f"\n\nRatio ours/main per core: **{vs_main:.2f}x** (target >= 0.6x; the second process and the "
            f"proxies take {split:.0%} of a run's CPU); ours/baseline: {ratio:.2f}x. CPU of the kernel's "
            "asynchronous network-namespace teardown (a kworker) is outside every process tree and not counted; "
            "the no-namespaces row bounds what the namespaces cost inside it.")
        results.merge_results({"verify_solutions_per_cpu_s": rows["ours"]["per_cpu_s"],
                               "verify_baseline_solutions_per_cpu_s": rows["baseline"]["per_cpu_s"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
