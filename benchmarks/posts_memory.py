"""Peak memory of reading Stack Exchange Posts.xml: a small file beside a large one, same run.

Measurements per file, each a child process under a fresh wrapper:
- reader: what one Dataflow worker holds for the read, i.e. `stackexchange_read`'s range parse
  (posts_xml records, each row parsed alone, classified into a keyed row or a reject) over every
  byte range of the file in turn. Output is counted and dropped, as a worker hands it to the
  shuffle; the process also reports what reading added to its peak over the imports.
- curate: `python -m pipelines.curate --sources stackexchange` on the DirectRunner, the whole
  job (read, GroupByKey, filters, exact and near dedup, Parquet).
- `--read-job POSTS_XML [Beam options]` (run it under `--peak-of`): ReadPosts alone on the
  DirectRunner (ranges, GroupByKey, threads), to see what that runner's buffers add.
Peak RSS is getrusage(RUSAGE_CHILDREN).ru_maxrss of the wrapper: the largest process of that
command's tree, never an earlier measurement's.

    python -m benchmarks.posts_memory --sizes 20M,2G --work /tmp/posts [--skip-curate-above 300M] [--record]
    python -m benchmarks.posts_memory --peak-of -- python -m benchmarks.posts_memory --read-job POSTS_XML
"""
from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_ranges(path: str, range_bytes: int) -> dict:
    """Every range of `path` parsed as ReadPosts' workers do; counts only (nothing kept).

    Also the process's peak RSS before reading (Python, Beam and the readers imported) and after:
    the difference is what reading the file added.
    """
    from pipelines.document import Rejected
    from pipelines.sources import ReadLimits
    from pipelines.sources.posts_xml import iter_items
    from pipelines.sources.stackexchange import classify, prolog_of

    import resource
    limits = ReadLimits()
    size = os.path.getsize(path)
    counts = {"ranges": 0, "rows": 0, "keyed": 0, "rejected": 0, "forbidden": 0,
              "baseline_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}   # after imports
    with open(path, "rb") as stream:
        prolog = prolog_of(stream, path)
        assert not isinstance(prolog, Rejected), prolog
        for start in range(prolog.body_start, size, range_bytes):
            counts["ranges"] += 1
            for item in iter_items(stream, start, min(size, start + range_bytes), prolog, limits.max_line_bytes):
                counts["rows"] += 1
                if item.forbidden:
                    counts["forbidden"] += 1
                    continue
                out = classify(path, item)
                counts["rejected" if isinstance(out, Rejected) else "keyed"] += 1
    counts["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return counts


def read_job(path: str, beam_args: list[str]) -> dict:
    """ReadPosts alone on the DirectRunner (ranges, GroupByKey, threads), records counted and dropped."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.document import Document
    from pipelines.sources.stackexchange_read import ReadPosts

    root = os.path.dirname(os.path.dirname(os.path.dirname(path)))
    p = beam.Pipeline(options=PipelineOptions(beam_args))
    (p | beam.Create([path]) | ReadPosts(root)
     | beam.Map(lambda r: ("documents" if isinstance(r, Document) else "rejected", 1))
     | beam.CombinePerKey(sum) | beam.Map(lambda kv: print(json.dumps(dict([kv]), allow_nan=False), flush=True)))
    p.run().wait_until_finish()
    return {}


def measure(kind: str, posts: str, out: str, beam_args: list[str] = ()) -> dict:
    """{"peak_rss_bytes", "wall_s", "stdout"} of one child run, in a fresh wrapper process.

    The wrapper's getrusage(RUSAGE_CHILDREN).ru_maxrss sees only this command's process tree
    (largest process), never an earlier measurement of ours.
    """
    import subprocess
    import time
    env = dict(os.environ, PYTHONPATH=REPO)
    if kind == "reader":
        cmd = [sys.executable, "-m", "benchmarks.posts_memory", "--read-only", posts]
    elif kind == "read_job":
        cmd = [sys.executable, "-m", "benchmarks.posts_memory", "--read-job", posts, *beam_args]
    else:
        root = os.path.dirname(os.path.dirname(os.path.dirname(posts)))
        cmd = [sys.executable, "-m", "pipelines.curate", "--input", root, "--output", out,
               "--sources", "stackexchange", *beam_args]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.posts_memory", "--peak-of", "--", *cmd],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} on {posts} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    *lines, last = proc.stdout.strip().splitlines()
    return {"peak_rss_bytes": int(last) * 1024, "wall_s": time.perf_counter() - start,
            "stdout": "\n".join(lines)}


def peak_of(cmd: list[str]) -> int:
    """Run `cmd`, forward its output, print its process tree's peak RSS in KiB last; its exit code."""
    import resource
    import subprocess
    code = subprocess.run(cmd).returncode
    sys.stdout.flush()
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.posts_memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20M,2G", help="Posts.xml sizes to generate and measure (K/M/G, binary)")
    ap.add_argument("--work", default="/tmp/posts_memory", help="folder for the generated files and outputs")
    ap.add_argument("--skip-curate-above", default="0",
                    help="measure whole curate only up to this file size (0: every size); the DirectRunner "
                         "holds every stage's output in memory, so large sizes may not fit the machine")
    ap.add_argument("--record", action="store_true",
                    help="append the table, command, machine and date to benchmarks/RESULTS.md")
    ap.add_argument("--read-only", metavar="POSTS_XML", help=argparse.SUPPRESS)
    ap.add_argument("--peak-of", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--read-job", metavar="POSTS_XML", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args(argv)
    if args.peak_of:
        return peak_of(rest[1:] if rest[:1] == ["--"] else rest)
    from pipelines.sources.stackexchange_read import RANGE_BYTES
    if args.read_job:
        read_job(args.read_job, rest)
        return 0
    if args.read_only:
        print(json.dumps(read_ranges(args.read_only, RANGE_BYTES), allow_nan=False))
        return 0
    from benchmarks.posts_corpus import parse_size, write_posts
    cap = parse_size(args.skip_curate_above)
    rows = []
    for size in args.sizes.split(","):
        posts = os.path.join(args.work, size, "raw", "stackexchange", "site.example.com", "Posts.xml")
        if not os.path.exists(posts):
            write_posts(posts, parse_size(size))
        row = {"size": size, "bytes": os.path.getsize(posts), "reader": measure("reader", posts, "")}
        if not cap or parse_size(size) <= cap:
            row["curate"] = measure("curate", posts, os.path.join(args.work, size, "curated"))
        rows.append(row)
        print(json.dumps(row, allow_nan=False), flush=True)
    table = format_table(rows)
    print(table)
    if args.record:
        from benchmarks import results
        command = "python -m benchmarks.posts_memory " + " ".join(argv if argv is not None else sys.argv[1:])
        results.append_section(f"## Stack Exchange Posts.xml memory, small vs large file "
                               f"(benchmarks/posts_memory.py) — {results.today()}\n\n`{command}` on "
                               f"{results.machine()}, {results.load_avg()}\n\n{table}\n")
    return 0


def format_table(rows: list[dict]) -> str:
    """Markdown: per file, the reader's peak (and what reading added over imports) and curate's."""
    lines = ["| Posts.xml | reader peak RSS (reading added) | ratio to first | curate peak RSS (DirectRunner) "
             "| curate wall |", "|---|---:|---:|---:|---:|"]
    first = rows[0]["reader"]["peak_rss_bytes"] if rows else 1
    for r in rows:
        reader, c = r["reader"], r.get("curate")
        counts = json.loads(reader["stdout"].strip().splitlines()[-1])
        added = (counts["peak_rss_kib"] - counts["baseline_rss_kib"]) / 1024
        lines.append(f"| {r['size']} ({r['bytes']:,} B, {counts['rows']:,} rows, {counts['ranges']} ranges) | "
                     f"{reader['peak_rss_bytes'] / 2**20:,.0f} MiB ({added:,.1f} MiB) | "
                     f"{reader['peak_rss_bytes'] / first:.2f}x | "
                     + (f"{c['peak_rss_bytes'] / 2**20:,.0f} MiB | {c['wall_s']:,.0f} s |" if c else "not run | |"))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
