"""What redaction costs the whole curate job: documents per CPU-second with --pii redact vs --pii off.

Corpus (code-heavy, deterministic): the Stack files of data/sample (all languages), each copied to
N documents by benchmarks.corpus.mutate (word swaps, an inserted sentence, a variant line), and one
document in PLANT_EVERY carrying a planted e-mail, public IP and AWS-format key (so the redactor does
real work; the rest exercise the pre-screen). Both configurations run the same command
(`python -m pipelines.curate`, DirectRunner in memory, one worker) on the same input, alternating
off/redact `--repeats` times; CPU is the process tree's (benchmarks.process_tree). The ratio is
(docs/CPU-s with redaction) / (docs/CPU-s without), best run of each (and from the mean of all runs).

    python -m benchmarks.pii_cost [--quick] [--documents N] [--repeats R] [--no-record]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import sys
import tempfile

from benchmarks import corpus, process_tree, results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLANT_EVERY = 20


def write_stack(root: str, n: int, seed: int = 0) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = []
    for path in sorted(glob.glob(os.path.join(REPO, "data", "sample", "stack", "*.parquet"))):
        rows += pq.read_table(path).to_pylist()
    out, planted = [], 0
    for i in range(n):
        row = dict(rows[i % len(rows)])
        rng = random.Random(f"{seed}:{i}")
        text = corpus.mutate(row["content"], i, rng)
        if i % PLANT_EVERY == 0:
            key = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
            text += f"\n# contact dev{i}@acme-corp.io, deploy host 52.14.{i % 200}.{7 + i % 90}, key {key}\n"
            planted += 1
        row.update(content=text, size=len(text.encode()), hexsha=f"{i:040x}")
        out.append(row)
    os.makedirs(os.path.join(root, "stack"), exist_ok=True)
    for s in range(4):
        part = out[s::4]
        pq.write_table(pa.Table.from_pylist(part), os.path.join(root, "stack", f"train-{s:05d}-of-00004.parquet"))
    return {"documents": n, "planted": planted, "bytes": sum(r["size"] for r in out)}


def measure(raw: str, out: str, mode: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipelines.curate", "--input", raw, "--output", out, "--pii", mode,
           "--direct_num_workers=1", "--direct_running_mode=in_memory"]
    got = process_tree.run_measured(cmd, cwd=REPO)
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        got["report"] = json.load(f)
    return got


def run(n_docs: int, repeats: int, record: bool) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-pii-")
    try:
        raw = os.path.join(tmp, "raw")
        info = write_stack(raw, n_docs)
        runs: dict[str, list[dict]] = {"off": [], "redact": []}
        for _ in range(repeats):
            for mode in ("off", "redact"):
                runs[mode].append(measure(raw, os.path.join(tmp, "out"), mode))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {m: min(r, key=lambda x: x["cpu_s"]) for m, r in runs.items()}
    rate = {m: n_docs / best[m]["cpu_s"] for m in best}
    ratio = rate["redact"] / rate["off"]
    mean_cpu = {m: sum(x["cpu_s"] for x in r) / len(r) for m, r in runs.items()}
    mean_ratio = mean_cpu["off"] / mean_cpu["redact"]
    pii = best["redact"]["report"]["sources"]["code"]["pii"]
    cpu = {m: [round(x["cpu_s"], 1) for x in r] for m, r in runs.items()}
    line = (f"curate on {n_docs} code documents ({info['bytes'] / 1e6:.1f} MB, {info['planted']} with planted PII): "
            f"off {rate['off']:.1f} docs/CPU-s, redact {rate['redact']:.1f} docs/CPU-s -> ratio {ratio:.3f} "
            f"(target >= 0.9), ratio of mean CPU {mean_ratio:.3f}; CPU-s per run {cpu}; redacted {pii}")
    print(line)
    if record:
        results.append_section(f"""## PII redaction cost in the whole curate job (benchmarks/pii_cost.py) — {results.today()}

Command: `python -m benchmarks.pii_cost --documents {n_docs} --repeats {repeats}`. Job: `python -m pipelines.curate`
(code filters, redaction, decontamination, exact + near dedup, Parquet, report), DirectRunner in memory, 1 worker,
on {n_docs:,} Stack documents from data/sample ({info['bytes'] / 1e6:.1f} MB, {info['planted']} with a planted
e-mail, IP and key), `--pii off` and `--pii redact` alternating in the same run, best of {repeats} each.
Machine: {results.machine()}, {results.load_avg()} (shared with other work).

| --pii | docs / CPU-s | CPU-s per run |
|---|---:|---|
| off | {rate['off']:.1f} | {cpu['off']} |
| redact | {rate['redact']:.1f} | {cpu['redact']} |

Throughput with redaction / without: **{ratio:.3f}** best run against best run, {mean_ratio:.3f} from the mean
CPU-s of all runs (target >= 0.9). Redacted in the run: {pii}.""")
        results.merge_results({"pii_cost_ratio": round(ratio, 3)})
    return {"ratio": ratio, "mean_ratio": mean_ratio, "rate": rate, "info": info}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pii_cost", description=__doc__.split("\n")[0])
    ap.add_argument("--documents", type=int, default=6000, help="code documents in the corpus (count)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each configuration, alternating (count)")
    ap.add_argument("--quick", action="store_true", help="300 documents, 1 repeat, nothing recorded (smoke test)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    if args.quick:
        run(300, 1, False)
    else:
        run(args.documents, args.repeats, not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
