"""Trainer configuration: frozen dataclasses, named presets, `get_config(name, **overrides)`.

Every knob has a documented default. What the paper fixes (sizes, vocabulary, block type, AdamW, batch
512 x 8192, 1325 warmup steps) is listed in docs/paper.md, "Models and training"; the shapes and
optimiser values that are ours, and why, in docs/decisions.md, "Trainer". trainer/README.md has the
parameter count per preset (checked by count_params in trainer/model.py) and the per-chip memory
arithmetic behind each preset's sharding (trainer/flops.py::memory_per_device).

vocab_size=0 (the "tiny" preset) means "take it from the mixture's tokenizer" (`resolve_vocab`); a preset
with a fixed vocabulary accepts any tokenizer whose vocabulary is not larger and refuses a larger one.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

REMAT_POLICIES = ("none", "full", "dots")
ATTENTION_IMPLS = ("xla", "cudnn")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 0            # 0 = take the tokenizer's vocab size from the mixture (resolve_vocab)
    d_model: int = 64              # residual width D
    n_layers: int = 2
    n_heads: int = 4               # query heads H; head_dim = d_model // n_heads
    n_kv_heads: int = 4            # K; < n_heads is grouped-query attention (n_heads % n_kv_heads == 0)
    d_ff: int = 256                # SwiGLU hidden width F
    seq_len: int = 128             # tokens per packed row L
    tie_embeddings: bool = True    # output projection = embedding table transposed
    rope_theta: float = 10_000.0   # RoPE base
    dtype: str = "bfloat16"        # compute dtype (matmuls, activations)
    param_dtype: str = "float32"   # master weights (and Adam moments)
    remat: str = "none"            # per-block rematerialisation: none | full (save only block inputs) | dots
    attention_impl: str = "xla"    # jax.nn.dot_product_attention implementation: xla | cudnn (GPU)
    norm_eps: float = 1e-6         # RMSNorm epsilon
    init_std: float = 0.02         # std of the embedding init (kernels use fan-in scaling)

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")
        if self.remat not in REMAT_POLICIES:
            raise ValueError(f"remat={self.remat!r} not in {REMAT_POLICIES}")
        if self.attention_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention_impl={self.attention_impl!r} not in {ATTENTION_IMPLS}")
        if self.vocab_size < 0 or self.seq_len <= 0:
            raise ValueError(f"bad vocab_size={self.vocab_size} or seq_len={self.seq_len}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Device mesh ("data", "fsdp", "tensor"); at most one axis may be -1 = all remaining devices."""
    data: int = 1
    fsdp: int = -1
    tensor: int = 1


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4               # peak learning rate (ours; the paper does not state it)
    b1: float = 0.9                # Adam betas (ours)
    b2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1      # decoupled, on matrices only (not norms, not embeddings)
    clip_norm: float = 1.0         # global gradient-norm clip
    min_lr_ratio: float = 0.1      # cosine floor = min_lr_ratio * lr
    # Warmup steps and the cooldown's final LR are the schedule's: the mixture recipe owns them
    # (mixer/presets.py: schedule_for), and the trainer reads them from mixture.json.


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    mesh: MeshConfig = MeshConfig()
    global_batch: int = 8          # sequences per optimiser step, all hosts together
    grad_accum: int = 1            # micro steps per optimiser step (global_batch % grad_accum == 0)
    steps: int = 100               # optimiser steps for this stage (the CLI may derive it from the mixture)
    z_loss: float = 0.0            # weight of the log(Z)^2 auxiliary loss (0 = off)
    log_every: int = 10            # steps between metric lines
    eval_every: int = 50           # steps between held-out evaluations (0 = never)
    eval_batches: int = 2          # batches per evaluation
    checkpoint_every: int = 50     # steps between Orbax checkpoints
    keep_checkpoints: int = 3      # checkpoints kept on disk
    seed: int = 0                  # parameter init and data order

    def __post_init__(self):
        if self.global_batch % self.grad_accum:
            raise ValueError(f"global_batch={self.global_batch} not divisible by grad_accum={self.grad_accum}")

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.model.seq_len


@dataclasses.dataclass(frozen=True)
class SizePreset:
    """One model size: everything a CLI, the dry run, the cost model and the capacity plan know about it.

    Adding a size is one entry in PRESETS: `--config` choices, `--chips`' default, trainer/flops.py and
    benchmarks/capacity.py all read it from here."""
    config: TrainConfig
    target_chips: int = 1                  # TPU v5e chips the mesh and grad_accum are designed for
    nominal_params: float | None = None    # the paper's name for the size (470e6), where the paper has it
    paper_chip_hours: float | None = None  # the paper's TPU v5e chip-hours for 200B tokens (section 2.3)


PRESETS: dict[str, SizePreset] = {
    # CPU tests and the demo: seconds per step on one core. float32: at d_model 64 a bfloat16 step costs ~6%
    # more CPU here (casts outweigh the halved memory traffic; benchmarks/RESULTS.md, CPU trainer).
    "tiny": SizePreset(TrainConfig(
        model=ModelConfig(vocab_size=0, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=192,
                          seq_len=128, dtype="float32"),
        optim=OptimConfig(lr=3e-3),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=1),
        global_batch=8, steps=100, log_every=10, eval_every=50, eval_batches=2, checkpoint_every=50),
        target_chips=1),
    # 467.7M parameters; paper batch 512 x 8192; v5litepod-64 as fsdp=16 x tensor=4.
    "470m": SizePreset(TrainConfig(
        model=ModelConfig(vocab_size=256_000, d_model=1024, n_layers=16, n_heads=16, n_kv_heads=16,
                          d_ff=2816, seq_len=8192, remat="full"),
        optim=OptimConfig(lr=3e-4),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=4),
        global_batch=512, grad_accum=16, steps=47_684, log_every=10, eval_every=1000, eval_batches=8,
        checkpoint_every=1000),
        target_chips=64, nominal_params=470e6, paper_chip_hours=4736),
    # 2.79B parameters; v5litepod-256 as fsdp=64 x tensor=4 (20 heads split 5 per tensor shard).
    "2.8b": SizePreset(TrainConfig(
        model=ModelConfig(vocab_size=256_000, d_model=2560, n_layers=24, n_heads=20, n_kv_heads=20,
                          d_ff=8192, seq_len=8192, remat="full"),
        optim=OptimConfig(lr=1.6e-4),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=4),
        global_batch=512, grad_accum=8, steps=47_684, log_every=10, eval_every=1000, eval_batches=8,
        checkpoint_every=1000),
        target_chips=256, nominal_params=2.8e9, paper_chip_hours=13824),
}


def _parse_value(text: str, annotation: Any) -> Any:
    kind = annotation if isinstance(annotation, type) else {"int": int, "float": float, "str": str,
                                                            "bool": bool}.get(str(annotation))
    if kind is bool:
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if kind is int:
        return int(float(text)) if "e" in text.lower() else int(text)
    if kind is float:
        value = float(text)
        if not math.isfinite(value):   # NaN would disable every comparison it reaches (and is not JSON)
            raise ValueError(f"{text!r} is not a finite number")
        return value
    if kind is str:
        return text
    raise ValueError(f"cannot parse a value of type {annotation}")


def apply_override(cfg: Any, key: str, value: Any) -> Any:
    """Return `cfg` with the dotted field `key` ("optim.lr", "model.n_layers", "steps") set to `value`.

    A string value is parsed by the field's declared type, so CLI text like "3e-4" works."""
    head, _, rest = key.partition(".")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    if head not in fields:
        raise KeyError(f"unknown config field {head!r} in {type(cfg).__name__}; known: {sorted(fields)}")
    if rest:
        return dataclasses.replace(cfg, **{head: apply_override(getattr(cfg, head), rest, value)})
    hints = typing.get_type_hints(type(cfg))
    if isinstance(value, str):
        value = _parse_value(value, hints[head])
    return dataclasses.replace(cfg, **{head: value})


def parse_overrides(items: list[str]) -> dict[str, str]:
    """["optim.lr=3e-4", "steps=10"] -> {"optim.lr": "3e-4", "steps": "10"} (clear error on a missing '=')."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form field.path=value")
        out[key.strip()] = value.strip()
    return out


def get_config(name: str, **overrides: Any) -> TrainConfig:
    """Preset `name` with overrides; keys are dotted paths written with "." or "__" (get_config("tiny",
    **{"optim.lr": "1e-3"}) or get_config("tiny", optim__lr=1e-3))."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    cfg = PRESETS[name].config
    for key, value in overrides.items():
        cfg = apply_override(cfg, key.replace("__", "."), value)
    return cfg


def resolve_vocab(cfg: TrainConfig, tokenizer_vocab_size: int) -> TrainConfig:
    """Fill vocab_size=0 from the tokenizer; refuse a model vocabulary smaller than the tokenizer's."""
    if cfg.model.vocab_size == 0:
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, vocab_size=tokenizer_vocab_size))
    if cfg.model.vocab_size < tokenizer_vocab_size:
        raise ValueError(f"model vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's "
                         f"{tokenizer_vocab_size}: token ids would fall outside the embedding table")
    return cfg
