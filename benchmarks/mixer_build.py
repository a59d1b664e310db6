"""Benchmark `python -m mixer build` on big synthetic manifests, and SamplingPlan picks/s.

Full: 10 sources x 10,000 shards (100,000 shards, 200B tokens) written as manifest.json files
under a temporary directory (no shard data: the mixer reads manifests only). --quick: 10 x 1,000.
The build runs as a child process so its wall time and peak RSS are the CLI's own.
Appends one row to benchmarks/RESULTS.md (command, machine: nproc, memory and CPU, date).

    python -m benchmarks.mixer_build [--quick] [--no-record]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks import results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = results.RESULTS_MD
SOURCES = [f"src{i:02d}" for i in range(10)]


def write_manifests(root: str, shards_per_source: int, total_tokens: int) -> None:
    per_source = total_tokens // len(SOURCES)
    for source in SOURCES:
        out = os.path.join(root, source)
        os.makedirs(out)
        tokens = [per_source // shards_per_source] * shards_per_source
        tokens[0] += per_source - sum(tokens)
        docs = [t // 2000 for t in tokens]
        body = {"format_version": 1, "source": source,
                "tokenizer": {"sha256": "0" * 64, "vocab_size": 256000, "eos_id": 2, "pad_id": 0, "path": "tok"},
                "shards": [{"path": f"part-{i:05d}-of-{shards_per_source:05d}.array_record", "documents": d,
                            "tokens": t} for i, (d, t) in enumerate(zip(docs, tokens))],
                "documents": sum(docs), "tokens": sum(tokens),
                "length_histogram": {"min": 1, "median": 1500, "p99": 9000, "max": 60000},
                "config_hash": "bench", "code_version": "bench"}
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(body, f, allow_nan=False)


def picks_per_second(n: int = 300_000) -> float:
    sys.path.insert(0, REPO)
    from mixer.sampling_plan import SamplingPlan

    mixture = {"seed": 0, "sources": {s: {"weight": 0.1, "documents": 10**8, "available_tokens": 2 * 10**11}
                                      for s in SOURCES}}
    plan = SamplingPlan(mixture)
    start = time.perf_counter()
    for _ in range(n):
        plan.next()
    return n / (time.perf_counter() - start)


SECTION = "## Mixer build (benchmarks/mixer_build.py)"
HEADER = ("| what | input | wall | memory | output | sampling | command | machine | date |\n"
          "|---|---|---:|---:|---:|---:|---|---|---|")


def record(line: str) -> None:
    """Add `line` to the mixer section of RESULTS.md (created if absent), keeping other sections intact."""
    text = open(RESULTS, encoding="utf-8").read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    lines = text.rstrip("\n").split("\n")
    if SECTION not in lines:
        lines += ["", SECTION, "", "Synthetic manifests (no shard data: the mixer reads manifests only); the build runs "
                  "as a child process (wall time and peak RSS are its own). SamplingPlan: open-loop picks/s over "
                  "10 sources of 1e8 documents. Shared 2-core machine: treat as relative numbers.", "", HEADER]
    at = lines.index(SECTION) + 1
    while at < len(lines) and not lines[at].startswith("| "):
        at += 1
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines.insert(at, line)
    results.write_atomic(RESULTS, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 x 1,000 shards instead of 10 x 10,000")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    shards = 1_000 if args.quick else 10_000
    total = 200 * 10**9
    with tempfile.TemporaryDirectory() as tmp:
        tokens, mix = os.path.join(tmp, "TOKENS"), os.path.join(tmp, "MIX")
        write_manifests(tokens, shards, total)
        weights = ",".join(f"{s}=1" for s in SOURCES)
        cmd = [sys.executable, "-m", "mixer", "build", "--weights", weights, "--data", tokens, "--tokens", "200B",
               "--output", mix]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        peak_mib = after.ru_maxrss / 1024
        size_mib = os.path.getsize(os.path.join(mix, "mixture.json")) / 2**20
    rate = picks_per_second()
    total_shards = shards * len(SOURCES)
    line = (f"| mixer build | {total_shards:,} shards / 10 sources / 200B tokens | {seconds:.2f} s ({cpu:.2f} CPU-s, "
            f"{results.load_avg()}) | "
            f"peak RSS {peak_mib:.0f} MiB | mixture.json {size_mib:.1f} MiB | SamplingPlan {rate / 1e3:.0f}k picks/s "
            f"| `python -m benchmarks.mixer_build{' --quick' if args.quick else ''}` | {results.machine()} | "
            f"{results.today()} |")
    print(line)
    if not args.no_record:
        record(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
