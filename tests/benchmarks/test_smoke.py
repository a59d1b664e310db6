"""Every pipeline benchmark runs in --quick mode and prints its ratio (no time thresholds: CI smoke test)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _quick(module: str, timeout: int = 240, expect: str = "ratio") -> str:
    proc = subprocess.run([sys.executable, "-m", module, "--quick"], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expect in proc.stdout, proc.stdout[-3000:]
    return proc.stdout


def test_corpus_is_deterministic_unique_and_readable_by_both(tmp_path):
    import zstandard

    from benchmarks import corpus
    a = corpus.write_corpus(str(tmp_path / "a"), 40, shards=2, seed=3)
    b = corpus.write_corpus(str(tmp_path / "b"), 40, shards=2, seed=3)
    assert [open(p, "rb").read() for p in a] == [open(p, "rb").read() for p in b]
    rows = [json.loads(line) for p in a
            for line in zstandard.ZstdDecompressor().stream_reader(open(p, "rb")).read().splitlines()]
    assert len(rows) == 40 and len({r["text"] for r in rows}) == 40 and len({r["id"] for r in rows}) == 40
    assert all(isinstance(r["meta"]["redpajama_set_name"], str) for r in rows)
    from pipelines.document import Document
    from pipelines.sources import parse_file
    docs = [r for p in a for r in parse_file("slimpajama", p)]
    assert len(docs) == 40 and all(isinstance(d, Document) for d in docs)


def test_minhash_quick():
    out = _quick("benchmarks.minhash")
    assert "datatrove" in out and "datasketch" in out


def test_tokenize_quick():
    _quick("benchmarks.tokenize")


@pytest.mark.slow
def test_curate_vs_datatrove_quick():
    out = _quick("benchmarks.curate_vs_datatrove")
    assert "ours" in out and "datatrove" in out


@pytest.mark.slow
def test_scaling_quick():
    out = _quick("benchmarks.scaling", timeout=400)
    assert "candidate edges" in out


def test_verify_quick():
    out = _quick("benchmarks.verify")
    assert "baseline" in out and "ours, no namespaces" in out


def test_curate_full_profile_assigns_stages():
    """py-spy stacks go to the innermost stage frame; imports to start-up; shared step code only as a fallback."""
    from benchmarks.curate_full import RUNNER, STARTUP, profile_stages
    raw = "\n".join([
        "run (pipelines/curate.py:1);process (pipelines/steps.py:9);first_reason (pipelines/document.py:3);"
        "gopher_repetition (pipelines/filters/gopher.py:5);_quality_counts (pipelines/filters/gopher.py:7) 5",
        "process (pipelines/steps.py:9);langid_reason (pipelines/filters/langid.py:2);predict (fasttext/x.py:1) 3",
        "<module> (x.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 7",
        "process (bundle_processor.py:1);doc_id (pipelines/document.py:2);parse (pipelines/sources/jsonl.py:4) 2",
        "process (bundle_processor.py:1);first_reason (pipelines/document.py:2) 1",
        "process (apache_beam/runners/worker/bundle_processor.py:1) 4",
        "signatures (pipelines/dedup/minhash.py:3) 6",
    ])
    stages = profile_stages(raw)
    assert stages == {"filter: gopher_repetition": 5, "filter: langid_reason": 3, STARTUP: 7, "read jsonl.zst": 2,
                      "steps: counters, reject records, rows": 1, RUNNER: 4, "MinHash signatures": 6}


@pytest.mark.slow
def test_pii_cost_quick():
    out = _quick("benchmarks.pii_cost")
    assert "redact" in out and "'key'" in out   # the planted keys were found


@pytest.mark.slow
def test_curate_full_quick():
    out = _quick("benchmarks.curate_full", timeout=900, expect="docs/CPU-s")   # no peer: a profile, not a ratio
    assert "start-up" in out and "filter: gopher_quality" in out
