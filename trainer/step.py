"""Train state, loss, and the jitted train / eval steps.

The loss is the mean cross-entropy over unmasked target tokens of the whole global batch (float32), plus an
optional z-loss (z_loss * log(Z)^2, PaLM). With grad_accum = A the global batch is split into A micro batches
(rows i*A + a go to micro step a, so every micro batch stays spread over all (data, fsdp) ranks), gradients of
the per-micro-batch loss *sums* are added up in float32 and divided once by the global token count: the update
equals the one-shot update on the full batch (tests compare them).

Per-source metrics: the batch's source_ids index the mixture's sorted source list (-1 on padding); each step
returns loss sums and token counts per source, shape [num_sources], so the loop can log loss per source.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from trainer.configs import TrainConfig
from trainer.model import Decoder
from trainer.optim import Schedule, make_optimizer, make_schedule
from trainer.sharding import BATCH_AXES, RULES, batch_sharding, logical_to_sharding


@flax.struct.dataclass
class TrainState:
    step: jax.Array       # int32 scalar: optimiser updates done
    params: Any           # float32 parameter tree (unboxed)
    opt_state: Any        # optax state (Adam moments mirror params)


@contextlib.contextmanager
def mesh_context(mesh: Mesh):
    """Mesh + logical rules active while tracing, so activation constraints in the model take effect."""
    with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
        yield


def _init_boxed(model: Decoder, optimizer: optax.GradientTransformation, rng: jax.Array) -> TrainState:
    tokens_1x8 = jnp.zeros((1, 8), jnp.int32)  # parameter shapes do not depend on the length
    params = model.init(rng, tokens_1x8)["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params))


def init_state(cfg: TrainConfig, rng: jax.Array, mesh: Mesh,
               optimizer: optax.GradientTransformation | None = None) -> tuple[TrainState, TrainState]:
    """Initialise params and optimiser state directly into their shardings (nothing is built on one device).

    Returns (state, state_shardings); the shardings tree is what Orbax restore and the jitted steps use.
    `optimizer` defaults to make_optimizer(cfg.optim, the pretrain cosine schedule): the state layout is the
    same for any schedule, so a caller may pass its own."""
    model = Decoder(cfg.model)
    if optimizer is None:
        optimizer = make_optimizer(cfg.optim, make_schedule(cfg.optim, cfg.steps, {"kind": "cosine"}))
    # Traced without the mesh context: out_shardings alone place the result.
    abstract = jax.eval_shape(functools.partial(_init_boxed, model, optimizer), rng)
    shardings = logical_to_sharding(abstract, mesh)
    init = jax.jit(lambda r: nn.meta.unbox(_init_boxed(model, optimizer, r)), out_shardings=shardings)
    return init(rng), shardings


def loss_fn(params, batch: dict[str, jax.Array], *, model: Decoder, num_sources: int, denom: jax.Array,
            z_loss: float = 0.0) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(sum of masked token losses + z-loss) / denom, and sums for metrics (never divided here)."""
    logits_BxLxV = model.apply({"params": params}, batch["inputs"], batch["segment_ids"], batch["positions"])
    logz_BxL = jax.nn.logsumexp(logits_BxLxV, axis=-1)
    # one-hot product rather than a gather: stays local when the vocabulary is split over "tensor".
    target_BxL = jnp.sum(logits_BxLxV * jax.nn.one_hot(batch["targets"], logits_BxLxV.shape[-1],
                                                       dtype=logits_BxLxV.dtype), axis=-1)
    mask_BxL = batch["loss_mask"].astype(jnp.float32)
    nll_BxL = (logz_BxL - target_BxL) * mask_BxL
    zsum = jnp.sum(jnp.square(logz_BxL) * mask_BxL)
    src_BxLxS = jax.nn.one_hot(batch["source_ids"], num_sources, dtype=jnp.float32)  # -1 -> all zeros
    aux = {
        "nll_sum": jnp.sum(nll_BxL),
        "z_sum": zsum,
        "source_loss_sum": jnp.einsum("bl,bls->s", nll_BxL, src_BxLxS),
        "source_tokens": jnp.einsum("bl,bls->s", mask_BxL, src_BxLxS),
    }
    return (aux["nll_sum"] + z_loss * zsum) / denom, aux


def train_step(state: TrainState, batch: dict[str, jax.Array], *, model: Decoder,
               optimizer: optax.GradientTransformation, num_sources: int, schedule: Schedule | None = None,
               grad_accum: int = 1, z_loss: float = 0.0, mesh: Mesh | None = None
               ) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimiser update (pure; see make_train_step for the jitted, sharded version)."""
    count = jnp.sum(batch["loss_mask"].astype(jnp.float32))
    denom = jnp.maximum(count, 1.0)
    grad_fn = jax.value_and_grad(functools.partial(loss_fn, model=model, num_sources=num_sources,
                                                   denom=denom, z_loss=z_loss), has_aux=True)
    if grad_accum == 1:
        (_, aux), grads = grad_fn(state.params, batch)
    else:
        def split(x_BxL):
            b = x_BxL.shape[0]
            x_AxMxL = x_BxL.reshape(b // grad_accum, grad_accum, *x_BxL.shape[1:]).swapaxes(0, 1)
            if mesh is not None:
                spec = P(None, BATCH_AXES, *([None] * (x_BxL.ndim - 1)))
                x_AxMxL = jax.lax.with_sharding_constraint(x_AxMxL, NamedSharding(mesh, spec))
            return x_AxMxL

        def micro(carry, mb):
            (_, aux), g = grad_fn(state.params, mb)
            return jax.tree.map(jnp.add, carry, (g, aux)), None

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        aux0 = {"nll_sum": 0.0, "z_sum": 0.0, "source_loss_sum": jnp.zeros(num_sources),
                "source_tokens": jnp.zeros(num_sources)}
        aux0 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), aux0)
        (grads, aux), _ = jax.lax.scan(micro, (zeros, aux0), jax.tree.map(split, batch))
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": aux["nll_sum"] / denom,
        "z_loss": aux["z_sum"] / denom,
        "grad_norm": optax.global_norm(grads),
        "lr": schedule(state.step) if schedule is not None else jnp.float32(jnp.nan),
        "tokens": count,
        "source_loss_sum": aux["source_loss_sum"],
        "source_tokens": aux["source_tokens"],
    }
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(params, batch: dict[str, jax.Array], *, model: Decoder, num_sources: int) -> dict[str, jax.Array]:
    """Loss sums on a held-out batch (no update); the caller divides after summing over batches."""
    count = jnp.sum(batch["loss_mask"].astype(jnp.float32))
    _, aux = loss_fn(params, batch, model=model, num_sources=num_sources, denom=jnp.float32(1.0))
    return {"nll_sum": aux["nll_sum"], "tokens": count, "source_loss_sum": aux["source_loss_sum"],
            "source_tokens": aux["source_tokens"]}


class _MeshJit:
    """A jitted function called under mesh_context (set_mesh must wrap the call: it is refused inside jit),
    so the model's activation constraints see the mesh and the logical rules when it is traced."""

    def __init__(self, mesh: Mesh, jitted: Callable):
        self.mesh, self.jitted = mesh, jitted

    def __call__(self, *args):
        with mesh_context(self.mesh):
            return self.jitted(*args)

    def lower(self, *args):
        with mesh_context(self.mesh):
            return self.jitted.lower(*args)


def make_train_step(cfg: TrainConfig, *, mesh: Mesh, state_shardings: TrainState, num_sources: int,
                    optimizer: optax.GradientTransformation, schedule: Schedule
                    ) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """jit(train_step) with explicit shardings: state in/out as init_state placed it (donated), batch rows over
    (data, fsdp) (use sharding.shard_batch), metrics replicated."""
    fn = functools.partial(train_step, model=Decoder(cfg.model), optimizer=optimizer, num_sources=num_sources,
                           schedule=schedule, grad_accum=cfg.grad_accum, z_loss=cfg.z_loss, mesh=mesh)
    replicated = NamedSharding(mesh, P())
    return _MeshJit(mesh, jax.jit(fn, in_shardings=(state_shardings, batch_sharding(mesh)),
                                  out_shardings=(state_shardings, replicated), donate_argnums=(0,)))


def make_eval_step(cfg: TrainConfig, *, mesh: Mesh, state_shardings: TrainState, num_sources: int
                   ) -> Callable[[Any, dict], dict]:
    """jit(eval_step): call as eval_fn(state.params, batch)."""
    fn = functools.partial(eval_step, model=Decoder(cfg.model), num_sources=num_sources)
    return _MeshJit(mesh, jax.jit(fn, in_shardings=(state_shardings.params, batch_sharding(mesh)),
                                  out_shardings=NamedSharding(mesh, P())))
