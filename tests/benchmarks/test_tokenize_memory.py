"""benchmarks.tokenize_memory runs end to end and reports each figure of issue 22's tokenize target (no time
thresholds)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.pipelines.curated_sample import documents, train_tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_tokenize_memory_small_run_reports_every_figure(tmp_path):
    model = tmp_path / "tokenizer.model"
    model.write_bytes(train_tokenizer(documents(12), 700))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.tokenize_memory", "--documents", "300",
                           "--shuffle-documents", "300", "--shards", "2", "--row-group-rows", "50",
                           "--tokenizer", str(model), "--scratch", str(tmp_path / "scratch")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"this checkout\s+300 docs: [\d,]+ tokens, .* tokens/CPU-s\), peak RSS", out), out
    shuffled = re.search(r"shuffle this checkout:\s+([\d,]+) bytes/doc over 300 docs, ([\d,]+) without", out)
    # Besides the held-out candidates' window hashes (64 candidates of 300 here), only keys, token counts and
    # per-shard summaries cross a shuffle (~300 bytes per document at this size, ~25 at 20,000 documents); a
    # document's tokens as varints alone are ~4,500 bytes here (~2,270 tokens).
    assert shuffled and int(shuffled.group(2).replace(",", "")) < 1000, out
