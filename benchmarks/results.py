"""Where benchmark numbers go: a section appended to benchmarks/RESULTS.md and keys merged into results.json.

RESULTS.md is for people (command, machine, date, tables); results.json is for scripts (benchmarks.capacity
reads per-core rates from it). Both are rewritten atomically so concurrent benchmark runs never leave half a file.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile

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


def read_results(path: str = RESULTS_JSON) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)
