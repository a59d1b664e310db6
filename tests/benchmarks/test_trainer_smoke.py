"""Smoke runs of the trainer-side benchmarks in --quick mode: they run end to end, exit 0 and print
their ratios (no time thresholds: numbers on a shared CI machine mean nothing). Nothing is recorded."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_quick(module: str) -> str:
    proc = subprocess.run([sys.executable, "-m", module, "--quick", "--no-record"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_loader_quick_prints_ratio_and_rates():
    out = run_quick("benchmarks.loader")
    ratio = re.search(r"loader / raw per repeat: .* median ([0-9.]+)x", out)
    assert ratio and float(ratio.group(1)) > 0, out
    rates = re.findall(r"([0-9.]+) M tokens/CPU-s", out)
    assert len(rates) == 4 and all(float(r) > 0 for r in rates), out     # loader, raw, sequential, Grain-native
    errors = re.search(r"loader max error ([0-9.]+) points, grain-native ([0-9.]+) points", out)
    assert errors and float(errors.group(1)) < float(errors.group(2)), out   # token feedback vs document mixing


@pytest.mark.slow
def test_trainer_quick_prints_mfu():
    out = run_quick("benchmarks.trainer")
    assert re.search(r"matmul peak float32 [0-9.]+ GFLOP/s", out), out
    mfu = re.search(r"MFU ([0-9.]+)% of own-dtype peak", out)
    assert mfu and float(mfu.group(1)) > 0, out
    loss = re.search(r"loss ([0-9.]+)", out)
    assert loss and float(loss.group(1)) > 0, out  # a finite loss: the step really ran on real batches
