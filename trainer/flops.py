"""Training FLOPs per token, MFU, and a per-device memory budget.

FLOPs per token (training = forward + backward = 3 x forward, 2 FLOPs per multiply-add):
    6 * N_matmul                       every weight matrix, the output projection included (V*D, tied or not);
                                       the embedding lookup is a gather, not a matmul, so it is excluded
  + 6 * n_layers * d_model * seq_len   attention scores QK^T and the weighted sum AV: forward 2 * 2 * L * d per
                                       token per layer for full attention (PaLM's 12*L*H*Q*T / 3 / T), halved
                                       for the causal mask = 2 * L * d, times 3 for the backward
Remat recomputation is not counted (MFU counts useful FLOPs only; that is the convention in PaLM and nanoGPT).

Chip-hours are computed here and only here (`cost`): --dry-run, benchmarks/capacity.py (docs/capacity.md) and
trainer/README.md print the same figures, each with the paper's own chip-hours beside it and the MFU those
imply both by this count and by plain 6ND with the paper's nominal N (the "~17%" in docs/paper.md, "Compute").
"""
from __future__ import annotations

import math
import time

from trainer.configs import PRESETS, ModelConfig, TrainConfig

GiB = 1024 ** 3

# Peak dense bf16 FLOP/s per chip (vendor figures).
PEAK_FLOPS = {
    "tpu-v4": 275e12,
    "tpu-v5e": 197e12,
    "tpu-v5p": 459e12,
    "tpu-v6e": 918e12,
    "a100": 312e12,
    "h100": 989e12,   # SXM, dense (no sparsity)
    "h200": 989e12,
}
HBM_BYTES = {"tpu-v4": 32 * GiB, "tpu-v5e": 16 * GiB, "tpu-v5p": 95 * GiB, "tpu-v6e": 32 * GiB,
             "a100": 80 * GiB, "h100": 80 * GiB, "h200": 141 * GiB}


def layer_params(cfg: ModelConfig) -> int:
    """Parameters of one block: shared norm + q, k, v, o + SwiGLU gate, up, down."""
    d, hd = cfg.d_model, cfg.head_dim
    attn = d * cfg.n_heads * hd * 2 + d * cfg.n_kv_heads * hd * 2
    return d + attn + 3 * d * cfg.d_ff


def matmul_params(cfg: ModelConfig) -> int:
    """Weights used in matmuls: all blocks plus the output projection (V*D); the input lookup excluded."""
    return cfg.n_layers * (layer_params(cfg) - cfg.d_model) + cfg.vocab_size * cfg.d_model


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token: 6 * N_matmul + 6 * n_layers * d_model * seq_len (causal attention)."""
    return 6.0 * matmul_params(cfg) + 6.0 * cfg.n_layers * cfg.d_model * cfg.seq_len


# The paper's pre-training token count for the chip-hours each SizePreset quotes (trainer/configs.py).
PAPER_TOKENS = 200e9


def attention_flops_per_token(cfg: ModelConfig) -> float:
    """The causal-attention term of flops_per_token: 6 * n_layers * d_model * seq_len."""
    return 6.0 * cfg.n_layers * cfg.d_model * cfg.seq_len


def chip_hours(flops: float, mfu_fraction: float, peak_flops: float = PEAK_FLOPS["tpu-v5e"]) -> float:
    """Chip-hours to do `flops` of training at `mfu_fraction` of one chip's peak."""
    return flops / (peak_flops * mfu_fraction) / 3600


def cost(config: str, cfg: ModelConfig, tokens: float, mfu_fraction: float,
         peak_flops: float = PEAK_FLOPS["tpu-v5e"]) -> dict:
    """The training cost of `tokens` tokens, and the paper's figure for the same tokens when it has one.

    Keys: flops_per_token, matmul_flops_per_token (6N), attention_flops_per_token, flops, chip_hours (at
    mfu_fraction); with a paper figure also paper_chip_hours (scaled to `tokens`), paper_mfu (what it implies
    by this count) and paper_mfu_6nd (by 6 * nominal N * D, attention not counted)."""
    per_token = flops_per_token(cfg)
    out = {"flops_per_token": per_token, "matmul_flops_per_token": 6.0 * matmul_params(cfg),
           "attention_flops_per_token": attention_flops_per_token(cfg), "flops": per_token * tokens,
           "chip_hours": chip_hours(per_token * tokens, mfu_fraction, peak_flops), "mfu": mfu_fraction}
    preset = PRESETS.get(config)
    if preset is not None and preset.paper_chip_hours and preset.nominal_params:
        paper = preset.paper_chip_hours * tokens / PAPER_TOKENS
        seconds_of_peak = paper * 3600 * peak_flops
        out.update(paper_chip_hours=paper, paper_mfu=per_token * tokens / seconds_of_peak,
                   paper_mfu_6nd=6.0 * preset.nominal_params * tokens / seconds_of_peak)
    return out


def format_cost(c: dict, chips: int) -> list[str]:
    """The dry run's cost lines (and the README's wording): FLOPs split, chip-hours, the paper beside them."""
    lines = [f"  FLOPs per token      {c['flops_per_token']:.4g} = 6N {c['matmul_flops_per_token']:.4g} + causal "
             f"attention {c['attention_flops_per_token']:.4g} (trainer/flops.py; 6ND alone leaves attention out)",
             f"  chip-hours           {c['chip_hours']:,.0f} at an assumed {c['mfu']:.0%} MFU "
             f"({c['chip_hours'] / chips:,.1f} h wall on {chips} chips)"]
    if "paper_chip_hours" in c:
        lines.append(f"  paper                {c['paper_chip_hours']:,.0f} v5e chip-hours for these tokens = "
                     f"{c['paper_mfu']:.1%} MFU by this count ({c['paper_mfu_6nd']:.1%} by 6ND, nominal N)")
    return lines


def mfu(tokens_per_s: float, flops_per_tok: float, peak_flops: float) -> float:
    """Model FLOPs utilisation; peak_flops is the aggregate over every device the job uses."""
    return tokens_per_s * flops_per_tok / peak_flops


def measure_cpu_matmul_peak(dtype: str = "float32", n: int = 1024, repeats: int = 5) -> float:
    """Achievable matmul FLOP/s on the default device (best of `repeats` timed n x n x n jitted products);
    the denominator of MFU where no vendor peak applies (CPU tests, laptops)."""
    import jax
    import jax.numpy as jnp

    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), dtype=jnp.dtype(dtype))
    b = jax.random.normal(kb, (n, n), dtype=jnp.dtype(dtype))
    matmul = jax.jit(lambda x, y: x @ y)
    matmul(a, b).block_until_ready()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best


def memory_per_device(cfg: TrainConfig, mesh_shape: dict[str, int], hbm_bytes: float = 16 * GiB) -> dict:
    """Estimated peak bytes per device for one training step (what the --dry-run prints).

    state      params fp32 (4 B) + grads fp32 (4 B) + Adam m, v fp32 (8 B) = 16 B per parameter, every matrix
               split over fsdp x tensor (norm scales are negligible)
    gathered   bf16 copies FSDP all-gathers: the embedding table (V*D/tensor) and two blocks (current + next)
    residual   layer inputs kept for the backward: full remat keeps only these, T*D*2 B per layer;
               dots / none keep matmul outputs too (q, k, v, attention out, gate, up, their product: about
               (4*D + 3*F) / tensor + 2*D per token per layer in bf16) and none also the attention probabilities
    attention  the materialised L x L scores (fp32) + probabilities (bf16) of one layer, heads split over tensor
    logits     T x V/tensor in fp32 and their gradient (8 B per entry): the largest term at 256k vocabulary
where T = tokens per device per micro step = global_batch / grad_accum / (data*fsdp) * seq_len.
"""
    m = cfg.model
    data, fsdp, tensor = mesh_shape["data"], mesh_shape["fsdp"], mesh_shape["tensor"]
    rows = cfg.global_batch // cfg.grad_accum
    if rows % (data * fsdp):
        raise ValueError(f"micro batch of {rows} rows does not split over data*fsdp={data * fsdp}")
    seqs = rows // (data * fsdp)
    tokens = seqs * m.seq_len
    n_params = m.vocab_size * m.d_model * (1 if m.tie_embeddings else 2) + m.n_layers * layer_params(m) + m.d_model
    state = 16 * n_params / (fsdp * tensor)
    gathered = 2 * (m.vocab_size * m.d_model / tensor + 2 * layer_params(m) / tensor)
    heads_per_device = math.ceil(m.n_heads / tensor)
    scores_one_layer = seqs * heads_per_device * m.seq_len ** 2 * (4 + 2)
    if m.remat == "full":
        per_layer = tokens * m.d_model * 2
    else:
        per_layer = tokens * 2 * ((4 * m.d_model + 3 * m.d_ff) / tensor + 2 * m.d_model)
        if m.remat == "none":
            per_layer += seqs * heads_per_device * m.seq_len ** 2 * 2
    residual = m.n_layers * per_layer
    logits = tokens * m.vocab_size / tensor * 8
    total = state + gathered + residual + scores_one_layer + logits
    return {"params": n_params, "tokens_per_device": tokens, "state": state, "gathered_weights": gathered,
            "residual": residual, "attention": scores_one_layer, "logits": logits, "total": total,
            "hbm": hbm_bytes, "fits": total <= 0.85 * hbm_bytes}


def format_memory(mem: dict) -> str:
    """One line per term in GiB, for --dry-run and the README."""
    keys = ("state", "gathered_weights", "residual", "attention", "logits", "total")
    lines = [f"  {k:<17}{mem[k] / GiB:8.2f} GiB" for k in keys]
    verdict = "fits" if mem["fits"] else "does NOT fit"
    lines.append(f"  {verdict} in {mem['hbm'] / GiB:.0f} GiB HBM (85% usable); "
                 f"{mem['tokens_per_device']} tokens per device per micro step")
    return "\n".join(lines)
