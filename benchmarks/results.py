"""Where benchmark numbers go: a section appended to benchmarks/RESULTS.md and keys merged into results.json.

RESULTS.md is for people (command, machine, date, tables); results.json is for scripts (benchmarks.capacity
reads per-core rates from it). Both are rewritten atomically so concurrent benchmark runs never leave half a file.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import tempfile
import time
from typing import Callable, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_MD = os.path.join(HERE, "RESULTS.md")
RESULTS_JSON = os.path.join(HERE, "results.json")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """'nproc N, M GiB, <CPU model>' for the RESULTS.md lines."""
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        mem = "? GiB"
    return f"nproc {os.cpu_count()}, {mem}, {cpu_model()}"


def load_avg() -> str:
    try:
        return "load average %.1f" % os.getloadavg()[0]
    except OSError:
        return "load average ?"


def today() -> str:
    return datetime.date.today().isoformat()


def best_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Fastest of `repeats` wall-clock runs of fn (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def write_atomic(path: str, text: str) -> None:
    """Temp file in the same directory, then rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def append_section(markdown: str, path: str = RESULTS_MD) -> None:
    """Append one '## ...' section (the caller writes its title, command, machine and date)."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmark results\n"
    write_atomic(path, text.rstrip("\n") + "\n\n" + markdown.strip("\n") + "\n")


def merge_results(values: dict, path: str = RESULTS_JSON) -> dict:
    """Set `values` in results.json, keeping every other key; returns the merged dict."""
    merged = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            merged = json.load(f)
    merged.update(values)
    write_atomic(path, json.dumps(merged, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return merged


@dataclasses.dataclass(frozen=True)
class Size:
    """One size flag of a benchmark CLI: 0 (the default) means the mode's own value."""
    flag: str     # e.g. "--documents"
    help: str     # what it counts, with its unit
    full: int     # value in full mode (the recorded run)
    quick: int    # value in --quick (CI smoke) mode

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def cli(prog: str, doc: str, quick_help: str, sizes: Sequence[Size]) -> argparse.ArgumentParser:
    """The flags every benchmark shares: --quick, its sizes, --no-record (add more to the parser)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    for size in sizes:
        parser.add_argument(size.flag, type=int, default=0,
                            help=f"{size.help} (default {size.full}; quick {size.quick})")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md / results.json")
    return parser


def chosen(args: argparse.Namespace, sizes: Sequence[Size]) -> tuple[list[int], dict]:
    """(size values for the mode, {"record", "quick"}): --quick never records over full-mode numbers."""
    values = [getattr(args, s.dest) or (s.quick if args.quick else s.full) for s in sizes]
    return values, {"record": not args.no_record and not args.quick, "quick": args.quick}


def entry(run: Callable[..., object], quick_help: str, *sizes: Size) -> Callable[[list[str] | None], int]:
    """`main(argv)` for a benchmark module: parse the shared flags, call run(*sizes, record=..., quick=...).

    The program name and description come from run's module (its `python -m` name and docstring).
    """
    import sys
    module = sys.modules[run.__module__]
    name = module.__spec__.name if getattr(module, "__spec__", None) else module.__name__

    def main(argv: list[str] | None = None) -> int:
        values, mode = chosen(cli(f"python -m {name}", module.__doc__ or "", quick_help, sizes).parse_args(argv),
                              sizes)
        run(*values, **mode)
        return 0
    return main
