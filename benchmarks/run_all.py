"""`make bench`: every side-by-side benchmark in turn, then the capacity plan from their results.

    python -m benchmarks.run_all            # full mode: the numbers recorded in RESULTS.md
    python -m benchmarks.run_all --quick    # each script's --quick smoke mode (under a minute each)

Each benchmark runs in its own process (clean memory and timing), in the order below; a failure
is reported and the rest still run, and the exit status says whether all of them passed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = ("minhash", "curate_vs_datatrove", "curate_full", "pii_cost", "tokenize", "scaling", "records_decode",
              "mixer_build", "loader", "trainer")
PRINT_ONLY = {"records_decode"}   # prints its table, records nothing (no --no-record flag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: each benchmark's --quick")
    parser.add_argument("--only", default="", help=f"comma list, subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}")
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", f"benchmarks.{name}"]
        if args.quick:   # smoke mode must not overwrite the recorded full-mode numbers
            cmd += ["--quick"] + ([] if name in PRINT_ONLY else ["--no-record"])
        print(f"== {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - start:.0f} s", flush=True)
    if not args.quick and not failed:
        subprocess.run([sys.executable, "-m", "benchmarks.capacity"], check=False)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
