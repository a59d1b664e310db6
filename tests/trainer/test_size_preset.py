"""Issue 21: a model size is one entry in trainer/configs.py PRESETS.

On 17a5377 preset names were listed in 6 files (trainer and evals CLIs, train.py's TARGET_CHIPS, flops.py,
benchmarks/capacity.py); a size missing from TARGET_CHIPS had the dry run assume 1 chip without a word.
"""
from __future__ import annotations

import dataclasses

import pytest

from trainer import configs
from trainer.configs import ModelConfig, OptimConfig, SizePreset, TrainConfig

NAME = "test-90m"
PRESET = SizePreset(
    TrainConfig(model=ModelConfig(vocab_size=32_000, d_model=512, n_layers=8, n_heads=8, n_kv_heads=8, d_ff=1408,
                                  seq_len=2048),
                optim=OptimConfig(lr=6e-4), global_batch=64, grad_accum=2),
    target_chips=8, nominal_params=90e6, paper_chip_hours=1000)


@pytest.fixture
def added(monkeypatch):
    monkeypatch.setitem(configs.PRESETS, NAME, PRESET)   # the one entry


def test_trainer_cli_dry_run_uses_the_presets_chips(added, capsys):
    from trainer.__main__ import main

    assert main(["train", "--config", NAME, "--dry-run", "--tokens", "1B"]) == 0
    out = capsys.readouterr().out
    assert f"config {NAME!r}" in out and "on 8 chips" in out
    assert f"{1_000_000_000 // (64 * 2048):,} (" in out       # steps from the preset's batch x seq_len


def test_trainer_cli_lists_it(added, capsys):
    from trainer.__main__ import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    assert NAME in capsys.readouterr().out


def test_evals_cli_accepts_it(added):
    from evals.cli import build_parser

    args = build_parser().parse_args(["sweep", "--recipes", "code-0", "--data", "d", "--config", NAME,
                                      "--tokens", "1M", "--output", "exp"])
    assert args.config == NAME


def test_cost_and_capacity_read_it(added, tmp_path):
    from benchmarks import capacity
    from tests.benchmarks.test_capacity import RATES
    from trainer.flops import cost

    c = cost(NAME, configs.get_config(NAME).model, 200e9, 0.4)
    assert c["paper_chip_hours"] == 1000
    assert c["paper_mfu_6nd"] == pytest.approx(6 * 90e6 * 200e9 / (1000 * 3600 * 197e12))
    text = capacity.plan(RATES, 0.4)
    assert f"| {NAME} |" in text and "| 470m |" in text


def test_a_preset_without_paper_figures_is_costed_without_them(monkeypatch):
    monkeypatch.setitem(configs.PRESETS, NAME, dataclasses.replace(PRESET, paper_chip_hours=None))
    from trainer.flops import cost

    assert "paper_chip_hours" not in cost(NAME, configs.get_config(NAME).model, 1e9, 0.4)
