"""Learning-rate schedules and the AdamW optimiser.

Two schedule kinds, named by mixture.json's "schedule" field:
  cosine  {"kind": "cosine", "warmup_steps": W}: linear warmup lr*(s+1)/W for s < W, then cosine from lr down
          to min_lr_ratio*lr, reached at the last update (s = total_steps - 1). The paper: 1325 warmup steps.
          A run shorter than its warmup (a debug run) only ramps up.
  linear  {"kind": "linear", "final_lr": 1e-6}: the cooldown (paper: "linear annealing ending at 1e-6").
          Starts at `start_lr` (the LR the previous stage ended at, when the caller restores it; the peak lr
          otherwise, or schedule["start_lr"] when the mixture names one) and falls linearly to final_lr,
          reached at the last update (s = total_steps - 1). Optional "warmup_steps" (default 0) ramps up first.
The step s is the optimiser's own update count (a new stage starts a new count).
The schedule's shape (kind, warmup_steps, final_lr) belongs to the mixture recipe (mixer/presets.py:
`schedule_for`, the one owner of the paper's 1325 warmup steps and 1e-6 final LR); a key the given schedule
leaves out takes that recipe's value for the stage. OptimConfig owns the peak lr and its cosine floor.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from mixer.presets import schedule_for
from trainer.configs import OptimConfig

Schedule = Callable[[jax.Array], jax.Array]


def make_schedule(cfg: OptimConfig, total_steps: int, schedule: dict,
                  start_lr: float | None = None) -> Schedule:
    """LR as a function of the update count (jit-friendly); see the module docstring for the shapes."""
    kind = schedule.get("kind", "cosine")
    schedule = {**schedule_for("cooldown" if kind == "linear" else "pretrain"), **schedule}
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if kind == "cosine":
        warmup = int(schedule["warmup_steps"])
        peak, floor = cfg.lr, cfg.lr * cfg.min_lr_ratio
    elif kind == "linear":
        warmup = int(schedule["warmup_steps"])
        peak = float(start_lr if start_lr is not None else schedule.get("start_lr", cfg.lr))
        floor = float(schedule["final_lr"])
    else:
        raise ValueError(f"unknown schedule kind {kind!r}: expected 'cosine' or 'linear'")
    if warmup < 0:
        raise ValueError(f"warmup_steps={warmup} must be >= 0")
    decay_steps = max(1, total_steps - 1 - warmup)

    def lr_at(step):
        s = jnp.asarray(step, jnp.float32)
        warm = peak * (s + 1.0) / max(warmup, 1)
        t = jnp.clip((s - warmup) / decay_steps, 0.0, 1.0)
        if kind == "cosine":
            decayed = floor + (peak - floor) * 0.5 * (1.0 + jnp.cos(jnp.pi * t))
        else:
            decayed = peak + (floor - peak) * t
        return jnp.where(s < warmup, warm, decayed)

    return lr_at


def decay_mask(params) -> object:
    """True for leaves that get weight decay: matrices, except the embedding table (norm scales are 1-D)."""
    def wants_decay(path, leaf) -> bool:
        names = {getattr(k, "key", getattr(k, "name", None)) for k in path}
        return leaf.ndim >= 2 and "embed" not in names
    return jax.tree_util.tree_map_with_path(wants_decay, params)


def make_optimizer(cfg: OptimConfig, schedule: Schedule) -> optax.GradientTransformation:
    """clip_by_global_norm -> AdamW (decoupled weight decay on matrices only)."""
    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                    mask=decay_mask),
    )
