"""Whole `pipelines.curate --sources stackexchange` on generated Posts.xml files: peak RSS and CPU per size.

Each run is `python -m pipelines.curate --input W/<size>/raw --output ... --sources stackexchange` (LID on,
exact and near dedup, both outputs written) on the DirectRunner, a child process measured with
benchmarks/process_tree.py (peak RSS of the largest process, CPU of the whole tree); a watchdog kills
a run whose RSS passes --max-rss-gib (reported as killed, not as a figure). --peer CHECKOUT runs the
same command with PYTHONPATH=CHECKOUT (e.g. main before the change, `git worktree add /tmp/peer REV`)
on --peer-sizes, in the same invocation, so the two are measured under the same load. Files come
from benchmarks/posts_corpus.py (deterministic; answers 200 threads after their question; by default
--mutate 0.3, so few threads are near duplicates, as in a real dump).

    python -m benchmarks.posts_curate --sizes 200M,2G --peer /tmp/peer --peer-sizes 200M --work /tmp/pc --record
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _commit(checkout: str) -> str:
    try:
        return subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def curate_once(checkout: str, raw: str, out: str, max_rss_bytes: int, log: str) -> dict:
    """One curate run of `checkout` on `raw`: {"peak_rss_bytes", "cpu_s", "wall_s", "threads_in", "kept"}
    or {"error": ...} when it failed or the watchdog killed it."""
    from benchmarks.process_tree import run_measured
    env = dict(os.environ, PYTHONPATH=checkout)
    cmd = [sys.executable, "-m", "pipelines.curate", "--input", raw, "--output", out, "--sources", "stackexchange"]
    try:
        m = run_measured(cmd, cwd=checkout, env=env, max_rss_bytes=max_rss_bytes, log=log)
    except RuntimeError as e:
        return {"error": str(e).splitlines()[0][:300]}
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    row = report.get("sources", {}).get("stackexchange")
    return {"peak_rss_bytes": m["peak_rss_bytes"], "cpu_s": m["cpu_s"], "wall_s": m["wall_s"],
            "documents_in": (row or {}).get("in"), "kept": (row or {}).get("kept")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.posts_curate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200M,2G", help="Posts.xml sizes for this checkout (K/M/G suffix, binary bytes)")
    ap.add_argument("--peer", default=None, metavar="CHECKOUT", help="another checkout to run the same command with")
    ap.add_argument("--peer-sizes", default="200M", help="sizes for --peer (same syntax as --sizes)")
    ap.add_argument("--work", default="/tmp/posts_curate", help="folder for the generated files and outputs")
    ap.add_argument("--mutate", type=float, default=0.3,
                    help="posts_corpus --mutate: share of words replaced per thread (0-1); 0.3 makes near "
                         "duplicates rare as in a real dump, 0 keeps same-base threads near duplicates")
    ap.add_argument("--max-rss-gib", type=float, default=6.0,
                    help="watchdog: kill a run once one of its processes passes this RSS (GiB)")
    ap.add_argument("--peer-max-rss-gib", type=float, default=12.0,
                    help="the watchdog's limit for --peer runs (GiB; main before the change needs ~7 at 200M)")
    ap.add_argument("--record", action="store_true",
                    help="append the table, command, machine, load and date to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    from benchmarks import results
    from benchmarks.posts_corpus import parse_size, write_posts
    runs = [(REPO, s) for s in args.sizes.split(",") if s]
    if args.peer:
        runs = [(os.path.abspath(args.peer), s) for s in args.peer_sizes.split(",") if s] + runs
    rows = []
    for checkout, size in runs:
        folder = os.path.join(args.work, size if not args.mutate else f"{size}-mutate{args.mutate:g}")
        raw = os.path.join(folder, "raw")
        posts = os.path.join(raw, "stackexchange", "site.example.com", "Posts.xml")
        if not os.path.exists(posts):
            write_posts(posts, parse_size(size), mutate=args.mutate)
        tag = "peer" if checkout != REPO else "this"
        out = os.path.join(folder, f"curated-{tag}")
        limit = args.max_rss_gib if tag == "this" else args.peer_max_rss_gib
        m = curate_once(checkout, raw, out, int(limit * 2**30), out + ".log")
        row = {"checkout": tag, "commit": _commit(checkout), "size": size, "bytes": os.path.getsize(posts),
               "load": results.load_avg(), **m}
        rows.append(row)
        print(json.dumps(row, allow_nan=False), flush=True)
    table = format_table(rows)
    print(table)
    if args.record:
        command = "python -m benchmarks.posts_curate " + " ".join(argv if argv is not None else sys.argv[1:])
        results.append_section(f"## Stack Exchange curate, whole job on the DirectRunner (benchmarks/posts_curate.py)"
                               f" — {results.today()}\n\n`{command}` on {results.machine()}, shared with other "
                               f"work ({results.load_avg()} at the end)\n\n{table}\n")
    return 0


def format_table(rows: list[dict]) -> str:
    lines = ["| checkout | Posts.xml | threads in | kept | peak RSS | CPU s | wall s | load at end |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['checkout']} {r['commit']} | {r['size']} ({r['bytes']:,} B) | | | "
                         f"{r['error']} | | | {r['load']} |")
            continue
        lines.append(f"| {r['checkout']} {r['commit']} | {r['size']} ({r['bytes']:,} B) | {r['documents_in']:,} | "
                     f"{r['kept']:,} | {r['peak_rss_bytes'] / 2**30:.2f} GiB | {r['cpu_s']:,.0f} | "
                     f"{r['wall_s']:,.0f} | {r['load']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
