"""FLOPs per token against the real model, MFU arithmetic, the CPU matmul peak and the memory budget."""
import dataclasses

import pytest

from trainer.configs import ModelConfig, get_config
from trainer.flops import (GiB, PEAK_FLOPS, flops_per_token, layer_params, matmul_params, measure_cpu_matmul_peak,
                           memory_per_device, mfu)
from trainer.model import count_params


@pytest.mark.parametrize("tied", [True, False])
def test_parameter_arithmetic_matches_the_model(tied):
    cfg = ModelConfig(vocab_size=50, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2, d_ff=48, seq_len=16,
                      tie_embeddings=tied)
    embeddings = cfg.vocab_size * cfg.d_model * (1 if tied else 2)
    assert count_params(cfg) == embeddings + cfg.n_layers * layer_params(cfg) + cfg.d_model
    # the output projection is a matmul whether or not it shares the table; norms and the lookup are not:
    # tied, the one table counts once (as the projection); untied, the input table drops out
    norms = (cfg.n_layers + 1) * cfg.d_model
    lookup = 0 if tied else cfg.vocab_size * cfg.d_model
    assert matmul_params(cfg) == count_params(cfg) - norms - lookup


def test_flops_per_token_formula_470m():
    cfg = get_config("470m").model
    n_matmul = 16 * (4 * 1024 ** 2 + 3 * 1024 * 2816) + 256_000 * 1024
    assert flops_per_token(cfg) == 6 * n_matmul + 6 * 16 * 1024 * 8192
    # attention grows with the context: doubling seq_len adds exactly 6 * n_layers * d_model * seq_len
    longer = dataclasses.replace(cfg, seq_len=16384)
    assert flops_per_token(longer) - flops_per_token(cfg) == 6 * 16 * 1024 * 8192


def test_mfu_and_the_papers_chip_hours():
    cfg = get_config("470m").model
    assert mfu(1000.0, 2e9, 4e12) == pytest.approx(0.5)
    # 200B tokens in 4,736 v5e chip-hours (paper): about a fifth of peak by our FLOPs count
    paper = mfu(200e9 / (4736 * 3600), flops_per_token(cfg), PEAK_FLOPS["tpu-v5e"])
    assert 0.15 < paper < 0.3


def test_cpu_matmul_peak_is_a_positive_rate():
    peak = measure_cpu_matmul_peak("float32", n=256, repeats=2)
    assert 1e7 < peak < 1e14


def test_preset_meshes_fit_a_v5e_chip_and_pure_fsdp_470m_does_not():
    for name, mesh in [("470m", {"data": 1, "fsdp": 16, "tensor": 4}), ("2.8b", {"data": 1, "fsdp": 64, "tensor": 4})]:
        mem = memory_per_device(get_config(name), mesh)
        assert mem["fits"], (name, mem)
        assert mem["total"] == pytest.approx(sum(mem[k] for k in ("state", "gathered_weights", "residual",
                                                                   "attention", "logits")))
    pure = memory_per_device(dataclasses.replace(get_config("470m"), grad_accum=8),
                             {"data": 1, "fsdp": 64, "tensor": 1})
    assert not pure["fits"] and pure["logits"] > 15 * GiB  # one row of 256k-vocab fp32 logits + gradient


def test_memory_terms_scale_with_micro_batch_and_sharding():
    cfg = get_config("2.8b")
    mesh = {"data": 1, "fsdp": 64, "tensor": 4}
    base = memory_per_device(cfg, mesh)
    half = memory_per_device(dataclasses.replace(cfg, grad_accum=16), {"data": 1, "fsdp": 32, "tensor": 4})
    assert half["tokens_per_device"] == base["tokens_per_device"]
    assert half["state"] == pytest.approx(2 * base["state"])  # half the ranks share the optimizer state
    with pytest.raises(ValueError, match="does not split"):
        memory_per_device(dataclasses.replace(cfg, grad_accum=512), mesh)
