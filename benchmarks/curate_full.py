"""The whole curate job on the benchmark corpus: documents per CPU-second, and where the CPU goes, stage by stage.

`python -m pipelines.curate --input RAW --output OUT` (every prose filter, fastText language ID,
decontamination, exact and near dedup, Parquet, report) over benchmarks.corpus documents in the
slimpajama family, in a child process on the DirectRunner (one worker, in memory):
  1. measured run: documents / CPU seconds of the process tree (benchmarks.process_tree), wall, peak RSS;
  2. profiled run (same command under py-spy, 100 samples/s): each sampled stack goes to the stage
     its innermost frame of ours belongs to (`stage_of`); the table gives each stage's share of the
     samples and the CPU it stands for (share x the measured run's CPU seconds).
Start-up (imports, reading the decontamination benchmarks, loading fastText, building the graph) is a
fixed cost; a run of --startup-docs documents measures it, so the per-document rate is given with and
without it.

    python -m benchmarks.curate_full [--quick] [--documents N] [--startup-docs N] [--no-record]
"""
from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import corpus, process_tree, results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTUP = "start-up: imports"
RUNNER = "Beam runner (DirectRunner, coders, bundles)"
# (stage, path fragment of ours or of a library): the innermost frame matching one names the stage.
PATH_STAGES = (
    ("read jsonl.zst", "/pipelines/sources/"),
    ("decontaminate", "/pipelines/filters/decontaminate.py"),
    ("MinHash signatures", "/pipelines/dedup/minhash"),
    ("exact + near dedup (keys, bands, edges, labels)", "/pipelines/dedup/transforms.py"),
    ("write Parquet", "/apache_beam/io/parquetio.py"),
    ("write Parquet", "/apache_beam/io/filebasedsink.py"),
    ("report", "/pipelines/report/"),
)
# Ours but shared by every stage: counted here only when no stage frame encloses them.
GLUE = ("steps: counters, reject records, rows", ("/pipelines/steps.py", "/pipelines/document.py"))
COMPOSERS = ("text_reasons", "filters_for", "first_reason")   # apply the rules; the rule below them is the stage
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>.*?)(?::\d+)?\)$")


def stage_of(frames: list[tuple[str, str]]) -> str:
    """Stage of one sampled stack ([(function, file)] outermost first): imports anywhere -> start-up; else
    the outermost filter rule (public function of pipelines/filters/ under the composers), else the innermost
    frame naming a stage (a file of ours or Beam's Parquet sink); else our shared step code; else the runner."""
    if any(func.startswith("_find_and_load") or "importlib" in path for func, path in frames):
        return STARTUP
    rules = [func for func, path in frames if "/pipelines/filters/" in path and "decontaminate" not in path
             and not func.startswith(("_", "<")) and func not in COMPOSERS]
    if rules:
        return f"filter: {rules[0]}"
    glue = False
    for func, path in reversed(frames):
        for stage, fragment in PATH_STAGES:
            if fragment in path:
                return stage
        glue = glue or any(fragment in path for fragment in GLUE[1])
    return GLUE[0] if glue else RUNNER


def profile_stages(raw: str) -> collections.Counter:
    """Samples per stage from py-spy's raw (collapsed) output."""
    stages: collections.Counter = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            frames.append((m["func"], "/" + m["path"].lstrip("/")) if m else (frame, ""))
        stages[stage_of(frames)] += int(count)
    return stages


def curate_cmd(raw: str, out: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.curate", "--input", raw, "--output", out,
            "--direct_num_workers=1", "--direct_running_mode=in_memory"]


def measure(raw: str, out: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    return process_tree.run_measured(curate_cmd(raw, out), cwd=REPO)


def profile(raw: str, out: str, tmp: str) -> collections.Counter | None:
    """py-spy record of the same job; None (and a note) when py-spy is not installed."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        print("py-spy not found: no per-stage profile (pip install py-spy)")
        return None
    shutil.rmtree(out, ignore_errors=True)
    trace = os.path.join(tmp, "profile.txt")
    subprocess.run([spy, "record", "-r", "100", "-f", "raw", "-o", trace, "--", *curate_cmd(raw, out)], cwd=REPO,
                   check=True, capture_output=True)
    with open(trace, encoding="utf-8") as f:
        return profile_stages(f.read())


def run(n_docs: int, startup_docs: int, record: bool, quick: bool) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-curate-full-")
    try:
        small, big = os.path.join(tmp, "raw-startup"), os.path.join(tmp, "raw")
        corpus.write_corpus(os.path.join(small, "slimpajama"), startup_docs, shards=2)
        corpus.write_corpus(os.path.join(big, "slimpajama"), n_docs, shards=4)
        start = measure(small, os.path.join(tmp, "out"))
        full = measure(big, os.path.join(tmp, "out"))
        stages = profile(big, os.path.join(tmp, "out"), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_cpu = n_docs / full["cpu_s"]
    marginal = (n_docs - startup_docs) / max(full["cpu_s"] - start["cpu_s"], 1e-9)
    print(f"curate (all filters, LID, decontamination, exact + near dedup), {n_docs} docs: CPU {full['cpu_s']:.1f} s, "
          f"wall {full['wall_s']:.1f} s, peak RSS {full['peak_rss_bytes'] / 2**20:.0f} MiB -> {per_cpu:,.0f} docs/CPU-s; "
          f"start-up ({startup_docs} docs) {start['cpu_s']:.1f} CPU-s; without it {marginal:,.0f} docs/CPU-s")
    rows = []
    if stages:
        total = sum(stages.values())
        print(f"{'stage':<50}{'share':>8}{'CPU s':>8}{'us/doc':>9}")
        for stage, count in stages.most_common():
            share = count / total
            cpu = share * full["cpu_s"]
            per_doc = "" if stage == STARTUP else f"{1e6 * cpu / n_docs:,.0f}"
            print(f"{stage:<50}{share:>8.1%}{cpu:>8.1f}{per_doc:>9}")
            rows.append(f"| {stage} | {share:.1%} | {cpu:.1f} | {per_doc or '(fixed)'} |")
    if record:
        table = "\n".join(rows) if rows else "| (py-spy not installed) | | | |"
        results.append_section(f"""## Full curate job on the benchmark corpus (benchmarks/curate_full.py) — {results.today()}

Command: `python -m benchmarks.curate_full --documents {n_docs}`. Job: `python -m pipelines.curate` (every prose
filter incl. fastText language ID, decontamination, exact + near dedup, Parquet, report), DirectRunner in memory,
1 worker, {n_docs:,} benchmark-corpus documents (slimpajama family). Machine: {results.machine()},
{results.load_avg()} (shared).

Whole job: **{per_cpu:,.0f} docs/CPU-s** ({full['cpu_s']:.1f} CPU-s, wall {full['wall_s']:.1f} s, peak RSS
{full['peak_rss_bytes'] / 2**20:,.0f} MiB); start-up measured on {startup_docs} documents: {start['cpu_s']:.1f} CPU-s;
without it {marginal:,.0f} docs/CPU-s.

Per-stage profile (py-spy, 100 samples/s, a second run of the same job; CPU s = share x the measured CPU):

| stage | share of samples | CPU s | us / doc |
|---|---:|---:|---:|
{table}""")
        results.merge_results({"curate_full_docs_per_cpu_s": round(per_cpu, 1)})
    return {"full": full, "startup": start, "stages": stages, "docs_per_cpu_s": per_cpu}


main = results.entry(run, "small run (300 documents, start-up on 20) for CI smoke tests",
                     results.Size("--documents", "documents in the corpus", 20_000, 300),
                     results.Size("--startup-docs", "documents of the start-up run", 50, 20))

if __name__ == "__main__":
    sys.exit(main())
