"""benchmarks/tokenizer_training.py: the fit recovers known growth laws; the --quick run trains for real."""
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import tokenizer_training
from tests.benchmarks.test_trainer_smoke import REPO


def test_fit_recovers_a_known_power_law_and_linear_memory():
    points = [{"bytes": b, "vocab": v, "cpu_s": 3e-5 * b ** 0.8 * v ** 0.1,
               "peak_rss_bytes": 1e8 + 4.0 * b + 80.0 * v}
              for b in (16 << 20, 64 << 20, 256 << 20) for v in (32000, 128000)]
    fit = tokenizer_training.fit(points)
    assert fit["time_bytes_exp"] == pytest.approx(0.8) and fit["time_vocab_exp"] == pytest.approx(0.1)
    assert np.exp(fit["time_log_a"]) == pytest.approx(3e-5)
    assert fit["mem_per_sample_byte"] == pytest.approx(4.0) and fit["mem_per_vocab_piece"] == pytest.approx(80.0)
    assert fit["mem_base_bytes"] == pytest.approx(1e8) and fit["time_max_rel_error"] < 1e-9


@pytest.mark.slow
def test_quick_run_trains_and_fits(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.tokenizer_training", "--quick", "--no-record"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(" MiB  vocab ") == len(tokenizer_training.QUICK_GRID) and "fit: cpu s" in proc.stdout
