"""Load: near dedup of one big near-copy cluster stays linear in edges, and the curate job's memory
on many small documents (peak RSS of the `python -m pipelines.curate` subprocess, printed and
recorded in tests/reliability/README.md).

RELIABILITY_LOAD_DOCS sets the document count of the curate load test. The default is 200,000:
peak RSS on the DirectRunner grows linearly (50k docs: 1.1 GiB, 200k: 3.6 GiB, about 17 KiB per
document, since the in-memory runner holds every stage's output), so 1,000,000 needs ~17 GiB and
is run on purpose (RELIABILITY_LOAD_DOCS=1000000) on a machine that has it, not by default.
"""
from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.dedup.transforms import NearDedup
from pipelines.document import Document
from pipelines.dedup.minhash import MinHashConfig
from tests.reliability.stages import REPO

WORDS = [f"w{i}" for i in range(5000)]


def near_copies(n: int, seed: int = 0, length: int = 120) -> list[Document]:
    """n documents that differ from one base text in one word each (Jaccard of 5-grams ~0.96)."""
    rng = random.Random(seed)
    base = [rng.choice(WORDS) for _ in range(length)]
    docs = []
    for i in range(n):
        words = list(base)
        words[rng.randrange(length)] = f"edit{i}"
        docs.append(Document(f"{i:08d}", "text", " ".join(words), {}))
    return docs


def run_near_dedup(docs: list[Document], cfg: MinHashConfig) -> tuple[int, int, dict[str, int]]:
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    out = p | beam.Create(docs) | NearDedup(cfg)
    (out.kept | "count kept" >> beam.combiners.Count.Globally()
     | beam.Map(lambda n: beam.metrics.Metrics.counter("load", "kept").inc(n)))
    result = p.run()
    result.wait_until_finish()
    counters = {m.key.metric.name: m.committed for m in result.metrics().query(MetricsFilter())["counters"]}
    return counters.get("kept", 0), counters.get("dedup/candidate_edges", 0), counters


def _check_cluster(n: int):
    cfg = MinHashConfig(num_perm=64)
    bands, _ = cfg.band_rows
    start = time.time()
    kept, edges, counters = run_near_dedup(near_copies(n), cfg)
    print(f"\nnear dedup of {n} near copies: kept {kept}, candidate edges {edges} "
          f"(bound bands x (n-1) = {bands * (n - 1)}, all pairs = {n * (n - 1) // 2}), {time.time() - start:.1f} s")
    assert kept == 1                                  # one component, one survivor
    assert 0 < edges <= bands * (n - 1)               # star edges per band bucket, never all pairs
    assert counters.get("dedup/cc_not_converged", 0) == 0


def test_near_copy_cluster_edges_are_linear():
    _check_cluster(1_000)


@pytest.mark.slow
def test_ten_thousand_near_copies_without_quadratic_blow_up():
    _check_cluster(10_000)


def write_many_documents(root, n: int, per_file: int = 100_000, seed: int = 0) -> None:
    """`math` family jsonl: n short distinct documents (random words), per_file lines a file."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(root, "math"), exist_ok=True)
    for f in range(0, n, per_file):
        with open(os.path.join(root, "math", f"load-{f // per_file:05d}.jsonl"), "w") as out:
            for i in range(f, min(n, f + per_file)):
                text = f"Problem {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
                out.write(json.dumps({"id": f"load-{i}", "text": text}) + "\n")


def curate_peak_rss(tmp_path, n: int) -> tuple[dict, float, float]:
    write_many_documents(tmp_path / "raw", n)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "pipelines.curate", "--input", str(tmp_path / "raw"),
                           "--output", str(tmp_path / "out"), "--no-langid", "--direct_num_workers=1"],
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True)
    wall = time.time() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # max over waited children, KiB
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    if peak_kib <= before:
        print("note: an earlier child of this process had a larger RSS; the figure is an upper bound")
    return report, peak_kib / 1024, wall


@pytest.mark.slow
def test_curate_many_small_documents_peak_rss(tmp_path):
    n = int(os.environ.get("RELIABILITY_LOAD_DOCS", "200000"))
    report, peak_mib, wall = curate_peak_rss(tmp_path, n)
    row = report["sources"]["math"]
    print(f"\ncurate of {n} small documents: peak RSS {peak_mib:.0f} MiB, {wall:.0f} s, kept {row['kept']}")
    assert row["in"] == n
    assert row["in"] == row["kept"] + row["rejected_total"] + row["exact_duplicates"] + \
        row["near_duplicates"] + row["errors"]
