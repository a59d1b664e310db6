"""Curate (and tokenize) on one machine: peak RSS, marginal RSS per document, shuffle bytes, CPU throughput.

For each N in --documents: benchmarks.corpus writes N SlimPajama-schema documents (~4.5 KB; near-duplicate
heavy: mutations of the sample's few thousand documents) as --shards jsonl.zst files, then
`python -m pipelines.curate --sources slimpajama` (language ID on unless --no-langid) runs in a child process
for this checkout and, up to --peer-max documents, for --peer (e.g. a checkout of main before the change)
on the same files: wall, CPU seconds, peak RSS (benchmarks/process_tree.py). Marginal RSS per document is
the slope between the two largest sizes of this checkout. Shuffle bytes per document
(benchmarks/shuffle_probe.py: everything entering a GroupByKey or side input, Beam's default coder) are
measured at --shuffle-documents on the same corpus and on a corpus without duplicates (each document's
words shuffled: no shared 5-grams), for both checkouts.

    python -m benchmarks.curate_memory --documents 100000,1000000 --peer /work/base [--record]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from benchmarks import corpus, process_tree, results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unique_corpus(folder: str, n: int, shards: int) -> None:
    """N documents without near duplicates: benchmarks.corpus texts with their words shuffled."""
    import zstandard
    os.makedirs(folder, exist_ok=True)
    docs = corpus.documents(n)
    bounds = [n * s // shards for s in range(shards + 1)]
    for s in range(shards):
        with open(os.path.join(folder, f"unique-{s:05d}.jsonl.zst"), "wb") as raw, \
                zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
            for i in range(bounds[s], bounds[s + 1]):
                d = next(docs)
                words = d["text"].split()
                random.Random(i).shuffle(words)
                d["text"] = " ".join(words)
                out.write(json.dumps(d, allow_nan=False).encode("utf-8") + b"\n")


def curate(checkout: str, raw: str, out: str, langid: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": checkout}
    cmd = [sys.executable, "-m", "pipelines.curate", "--input", raw, "--output", out, "--sources", "slimpajama"]
    return process_tree.run_measured(cmd + ([] if langid else ["--no-langid"]), cwd=checkout, env=env)


def shuffle(checkout: str, raw: str, out: str, langid: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": checkout}
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "shuffle_probe.py"), "--input", raw, "--output", out]
    done = subprocess.run(cmd + ([] if langid else ["--no-langid"]), env=env, cwd=checkout,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.curate_memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--documents", default="100000,1000000", help="comma list of corpus sizes N (documents)")
    ap.add_argument("--corpus", choices=("near-duplicates", "unique"), default="near-duplicates",
                    help="size runs on benchmarks.corpus as written (near-duplicate heavy) or with every "
                         "document's words shuffled (no shared 5-grams: no dedup candidates)")
    ap.add_argument("--shards", type=int, default=8, help="jsonl.zst files per corpus (= curate work items)")
    ap.add_argument("--peer", default=None, help="another checkout to run on the same files (e.g. /work/base)")
    ap.add_argument("--peer-max", type=int, default=100_000, help="largest N the peer runs (documents)")
    ap.add_argument("--shuffle-documents", type=int, default=20_000, help="N of the shuffle-bytes runs (0: skip)")
    ap.add_argument("--no-langid", action="store_true", help="curate without language ID")
    ap.add_argument("--scratch", default=None,
                    help="folder for corpora and outputs, kept afterwards: a later run reuses its corpora "
                         "(default: a temporary folder, removed)")
    ap.add_argument("--record", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    langid = not args.no_langid
    scratch = args.scratch or tempfile.mkdtemp(prefix="bench-curate-memory-")
    peers = [("this checkout", REPO)] + ([("peer", os.path.abspath(args.peer))] if args.peer else [])
    rows, shuffles = [], []
    try:
        if args.shuffle_documents:
            n = args.shuffle_documents
            for kind in ("near-duplicate heavy", "no duplicates"):
                raw = os.path.join(scratch, f"shuffle-{kind[:2]}", "raw")
                if kind == "no duplicates":
                    unique_corpus(os.path.join(raw, "slimpajama"), n, args.shards)
                else:
                    corpus.write_corpus(os.path.join(raw, "slimpajama"), n, shards=args.shards)
                for name, checkout in peers:
                    s = shuffle(checkout, raw, os.path.join(scratch, "shuffle-out"), langid)
                    shuffles.append({"corpus": kind, "checkout": name, **s})
                    print(f"shuffle {kind:>20} {name:>13}: {s['bytes_per_doc']:9,.0f} bytes/doc over {s['documents']:,} "
                          f"docs; top: {list(s['by_step'].items())[:3]}", flush=True)
                shutil.rmtree(os.path.dirname(raw), ignore_errors=True)
        for n in [int(x) for x in args.documents.split(",") if x]:
            raw = os.path.join(scratch, f"raw{n}")
            done = os.path.join(scratch, f"raw{n}.{args.corpus}.{args.shards}.complete")
            if not os.path.exists(done):   # a --scratch corpus is reused (same N, kind, shards: same bytes)
                shutil.rmtree(raw, ignore_errors=True)
                if args.corpus == "unique":
                    unique_corpus(os.path.join(raw, "slimpajama"), n, args.shards)
                else:
                    corpus.write_corpus(os.path.join(raw, "slimpajama"), n, shards=args.shards)
                open(done, "w").close()
            for name, checkout in peers:
                if name == "peer" and n > args.peer_max:
                    continue
                out = os.path.join(scratch, f"out{n}")
                m = curate(checkout, raw, out, langid)
                shutil.rmtree(out, ignore_errors=True)
                row = {"checkout": name, "documents": n, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"],
                       "peak_rss_bytes": m["peak_rss_bytes"], "docs_per_cpu_s": n / m["cpu_s"]}
                rows.append(row)
                print(f"curate {name:>13} {n:>8,} docs: wall {m['wall_s']:8.1f} s, CPU {m['cpu_s']:8.1f} s "
                      f"({row['docs_per_cpu_s']:6.1f} docs/CPU-s), peak RSS {m['peak_rss_bytes'] / 2**30:5.2f} GiB "
                      f"({m['peak_rss_bytes'] / n / 1024:6.2f} KiB/doc)", flush=True)
            if not args.scratch:
                shutil.rmtree(raw, ignore_errors=True)
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    own = [r for r in rows if r["checkout"] == "this checkout"]
    marginal = None
    if len(own) >= 2:
        a, b = own[-2], own[-1]
        marginal = (b["peak_rss_bytes"] - a["peak_rss_bytes"]) / (b["documents"] - a["documents"])
        print(f"marginal peak RSS {a['documents']:,} -> {b['documents']:,}: {marginal / 1024:.2f} KiB/doc")
    for n in sorted({r["documents"] for r in rows}):
        pair = {r["checkout"]: r for r in rows if r["documents"] == n}
        if len(pair) == 2:
            print(f"throughput at {n:,}: {pair['this checkout']['docs_per_cpu_s'] / pair['peer']['docs_per_cpu_s']:.2f}x "
                  f"docs per CPU-second vs the peer; peak RSS {pair['peer']['peak_rss_bytes'] / pair['this checkout']['peak_rss_bytes']:.2f}x lower")
    if args.record:
        cmd = "python -m benchmarks.curate_memory " + " ".join(argv if argv is not None else sys.argv[1:])
        table = "\n".join(f"| {r['checkout']} | {r['documents']:,} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                          f"{r['docs_per_cpu_s']:.1f} | {r['peak_rss_bytes'] / 2**30:.2f} | "
                          f"{r['peak_rss_bytes'] / r['documents'] / 1024:.2f} |" for r in rows)
        stable = "\n".join(f"| {s['corpus']} | {s['checkout']} | {s['documents']:,} | {s['bytes_per_doc']:,.0f} |"
                           for s in shuffles)
        shuffle_section = f"""
Bytes entering every GroupByKey and side input (benchmarks/shuffle_probe.py, Beam's default coder):

| corpus | checkout | documents | bytes / document |
|---|---|---:|---:|
{stable}
""" if shuffles else ""   # --shuffle-documents 0: no probe ran, no empty table
        results.append_section(f"""## Curate on one machine: memory, shuffle bytes, throughput (benchmarks/curate_memory.py) — {results.today()}

Command: `{cmd}`. Machine: {results.machine()}, {results.load_avg()} (shared with other work: wall times are noisy;
CPU seconds less so). Curate = `python -m pipelines.curate --sources slimpajama`{'' if langid else ' --no-langid'} on
benchmarks.corpus ({args.corpus}) in {args.shards} files, child process; "peer" = {args.peer or 'none'}.

| checkout | documents | wall s | CPU s | docs / CPU-s | peak RSS GiB | KiB / doc |
|---|---:|---:|---:|---:|---:|---:|
{table}

Marginal peak RSS between the two largest sizes of this checkout: {'n/a' if marginal is None else f'{marginal / 1024:.2f} KiB per document'}.
{shuffle_section}""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
