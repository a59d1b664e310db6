"""Tokenize on one machine: peak RSS and tokens per CPU-second of `python -m pipelines.tokenize` at N documents.

For each N in --documents: benchmarks.corpus's N documents (~4.5 KB) are written as a finished curate run's
output (CURATED/kept/slimpajama/part-NNNNN-of-MMMMM.parquet, --shards files, row groups of --row-group-rows
rows like curate's 16 MB ones, and _COMPLETE.json: tokens/completion.py), then the tokenize job runs in a
child process (DirectRunner) for this checkout and, up to --peer-max documents, for --peer on the same files:
wall, CPU seconds, peak RSS of the largest process (benchmarks/process_tree.py), tokens written (manifests).
A run whose process tree passes --max-rss-gib is killed and reported as such (shared machines). Bytes entering
every shuffle and side input per document (benchmarks/tokenize_shuffle_probe.py) are measured at
--shuffle-documents for both checkouts.

    python -m benchmarks.tokenize_memory --documents 100000,1000000 --peer /tmp/main-checkout \\
        --tokenizer demo_out/tokenizer/tokenizer.model [--record]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from benchmarks import corpus, process_tree, results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_curated(root: str, n: int, shards: int, row_group_rows: int) -> None:
    """N benchmark documents as curate's kept output of one source (slimpajama), with its completion record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tokens import completion
    folder = os.path.join(root, "kept", "slimpajama")
    os.makedirs(folder, exist_ok=True)
    docs = corpus.documents(n)
    bounds = [n * s // shards for s in range(shards + 1)]
    files = {}
    schema = pa.schema([(k, pa.string()) for k in ("id", "source", "text", "meta")])
    for s in range(shards):
        name = f"part-{s:05d}-of-{shards:05d}.parquet"
        with pq.ParquetWriter(os.path.join(folder, name), schema) as writer:
            left = bounds[s + 1] - bounds[s]
            while left:
                rows = [next(docs) for _ in range(min(row_group_rows, left))]
                left -= len(rows)
                writer.write_table(pa.table({"id": [r["id"] for r in rows], "source": ["slimpajama"] * len(rows),
                                             "text": [r["text"] for r in rows],
                                             "meta": [json.dumps(r["meta"], sort_keys=True, allow_nan=False) for r in rows]}, schema))
        files[f"kept/slimpajama/{name}"] = bounds[s + 1] - bounds[s]
    completion.write_record(root, "curate", files, {"sources": ["slimpajama"], "ok": True})


def tokenize(checkout: str, curated: str, tokenizer: str, out: str, max_rss: int) -> dict:
    env = {**os.environ, "PYTHONPATH": checkout}
    cmd = [sys.executable, "-m", "pipelines.tokenize", "--input", curated, "--tokenizer", tokenizer,
           "--output", out]
    m = process_tree.run_measured(cmd, cwd=checkout, env=env, max_rss_bytes=max_rss)
    tokens = 0
    for source in os.listdir(out):
        path = os.path.join(out, source, "manifest.json")
        if os.path.exists(path):
            body = json.load(open(path))
            tokens += body["tokens"] + sum(s["tokens"] for s in body.get("heldout", []))
    return {**m, "tokens": tokens}


def shuffle(checkout: str, curated: str, tokenizer: str, out: str) -> dict:
    env = {**os.environ, "PYTHONPATH": checkout}
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "tokenize_shuffle_probe.py"), "--input", curated,
           "--tokenizer", tokenizer, "--output", out]
    done = subprocess.run(cmd, env=env, cwd=checkout, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tokenize_memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--documents", default="100000,1000000", help="comma list of corpus sizes N (documents)")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.model to encode with (e.g. the demo's, "
                                                       "make demo: demo_out/tokenizer/tokenizer.model)")
    ap.add_argument("--shards", type=int, default=8, help="kept Parquet files of the generated curate output")
    ap.add_argument("--row-group-rows", type=int, default=3500,
                    help="rows per Parquet row group (documents; 3,500 x 4.5 KB ~ curate's 16 MB row groups)")
    ap.add_argument("--peer", default=None, help="another checkout to run on the same files (e.g. main's)")
    ap.add_argument("--peer-max", type=int, default=100_000, help="largest N the peer runs (documents)")
    ap.add_argument("--shuffle-documents", type=int, default=20_000,
                    help="N of the shuffle-bytes runs (documents; 0: skip)")
    ap.add_argument("--max-rss-gib", type=float, default=6.0,
                    help="kill a run whose process tree passes this RSS (GiB; protects a shared machine)")
    ap.add_argument("--scratch", default=None, help="folder for corpora and outputs (default: a temporary one)")
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    scratch = args.scratch or tempfile.mkdtemp(prefix="bench-tokenize-memory-")
    peers = [("this checkout", REPO)] + ([("peer", os.path.abspath(args.peer))] if args.peer else [])
    rows, shuffles = [], []
    tokenizer = os.path.abspath(args.tokenizer)
    try:
        if args.shuffle_documents:
            curated = os.path.join(scratch, "shuffle-curated")
            write_curated(curated, args.shuffle_documents, args.shards, args.row_group_rows)
            for name, checkout in peers:
                s = shuffle(checkout, curated, tokenizer, os.path.join(scratch, "shuffle-out"))
                shutil.rmtree(os.path.join(scratch, "shuffle-out"), ignore_errors=True)
                shuffles.append({"checkout": name, **s})
                windows = sum(v for k, v in s["by_step"].items() if "candidate" in k)
                print(f"shuffle {name:>13}: {s['bytes_per_doc']:9,.0f} bytes/doc over {s['documents']:,} docs, "
                      f"{(s['shuffle_bytes'] - windows) / max(1, s['documents']):,.0f} without held-out candidates' "
                      f"steps; top: {list(s['by_step'].items())[:3]}", flush=True)
            shutil.rmtree(curated, ignore_errors=True)
        for n in [int(x) for x in args.documents.split(",") if x]:
            curated = os.path.join(scratch, f"curated{n}")
            write_curated(curated, n, args.shards, args.row_group_rows)
            for name, checkout in peers:
                if name == "peer" and n > args.peer_max:
                    continue
                out = os.path.join(scratch, f"tokens{n}")
                try:
                    m = tokenize(checkout, curated, tokenizer, out,
                                 int(args.max_rss_gib * 2**30))
                except RuntimeError as e:
                    if "killed by the watchdog" not in str(e):
                        raise
                    print(f"tokenize {name:>13} {n:>9,} docs: killed, {e}", flush=True)
                    rows.append({"checkout": name, "documents": n, "killed": str(e)})
                    continue
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                row = {"checkout": name, "documents": n, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"],
                       "peak_rss_bytes": m["peak_rss_bytes"], "tokens": m["tokens"],
                       "tokens_per_cpu_s": m["tokens"] / m["cpu_s"]}
                rows.append(row)
                print(f"tokenize {name:>13} {n:>9,} docs: {m['tokens']:,} tokens, wall {m['wall_s']:8.1f} s, "
                      f"CPU {m['cpu_s']:8.1f} s ({row['tokens_per_cpu_s']:,.0f} tokens/CPU-s), "
                      f"peak RSS {m['peak_rss_bytes'] / 2**30:5.2f} GiB", flush=True)
            shutil.rmtree(curated, ignore_errors=True)
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    for n in sorted({r["documents"] for r in rows}):
        pair = {r["checkout"]: r for r in rows if r["documents"] == n and "killed" not in r}
        if len(pair) == 2:
            mine, peer = pair["this checkout"], pair["peer"]
            print(f"at {n:,}: {mine['tokens_per_cpu_s'] / peer['tokens_per_cpu_s']:.2f}x tokens per CPU-second "
                  f"vs the peer; peak RSS {peer['peak_rss_bytes'] / mine['peak_rss_bytes']:.2f}x lower")
    if args.record:
        cmd = "python -m benchmarks.tokenize_memory " + " ".join(argv if argv is not None else sys.argv[1:])
        table = "\n".join(
            f"| {r['checkout']} | {r['documents']:,} | killed: {r['killed']} | | | | |" if "killed" in r else
            f"| {r['checkout']} | {r['documents']:,} | {r['tokens']:,} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
            f"{r['tokens_per_cpu_s']:,.0f} | {r['peak_rss_bytes'] / 2**30:.2f} |" for r in rows)
        stable = "\n".join(f"| {s['checkout']} | {s['documents']:,} | {s['bytes_per_doc']:,.0f} | "
                            f"{next(iter(s['by_step']), '')} |" for s in shuffles)
        shuffle_section = f"""
Bytes entering every GroupByKey and side input at {args.shuffle_documents:,} documents
(benchmarks/tokenize_shuffle_probe.py, Beam's default coder):

| checkout | documents | bytes / document | largest |
|---|---:|---:|---|
{stable}
""" if shuffles else ""   # --shuffle-documents 0: no probe ran, no empty table
        results.append_section(f"""## Tokenize on one machine: peak RSS, tokens per CPU-second (benchmarks/tokenize_memory.py) — {results.today()}

Command: `{cmd}`. Machine: {results.machine()}, {results.load_avg()} (shared with other work: wall times are
noisy; CPU seconds less so). `python -m pipelines.tokenize` (DirectRunner, child process) on benchmarks.corpus
written as curate's kept output ({args.shards} files, {args.row_group_rows:,}-row row groups); "peer" =
{args.peer or 'none'}.

| checkout | documents | tokens | wall s | CPU s | tokens / CPU-s | peak RSS GiB |
|---|---:|---:|---:|---:|---:|---:|
{table}
{shuffle_section}""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
