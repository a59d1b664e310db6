"""Guards that keep garbage out of checkpoints: a non-finite loss stops the run before a save, and a
restored state must match the digest of the arrays written with it.

Non-finite loss: a NaN/Inf loss or gradient norm means the parameters are (or are about to be) garbage;
saving them would rotate a good checkpoint out (Orbax keeps the newest `keep_checkpoints`). The loop checks
the summed metrics of every step since the last check before each save and at each log line, and stops
with NonFiniteLoss; the newest checkpoint on disk is untouched.

State digest: Orbax verifies structure, shapes and dtypes, and its zstd/tensorstore layers fail on some
corrupt chunks, but bytes overwritten inside a chunk can restore "fine". At save time the bit patterns of
every array of the train state (parameters, optimizer moments, step) are summed modulo 2**32 on device, per
leaf (order-independent, so any sharding gives the same value; one flipped bit always changes it) and
recorded in the checkpoint's meta; a restore recomputes them and refuses a mismatch, so the caller can fall
back to the previous checkpoint.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

DIGEST_KEY = "state_digest"


class NonFiniteLoss(RuntimeError):
    """The loss (or gradient norm) became NaN/Inf: stopped before any checkpoint was written."""


def check_finite(summed: dict | None, first: int, step: int, latest_checkpoint: int | None) -> None:
    """Raise NonFiniteLoss when the metrics summed over steps `first`+1..`step` hold a NaN or Inf."""
    if summed is None:
        return
    import jax

    values = jax.device_get({k: summed[k] for k in ("loss", "grad_norm") if k in summed})
    bad = {k: float(v) for k, v in values.items() if not math.isfinite(float(v))}
    if bad:
        where = f"step {step}" if step == first + 1 else f"steps {first + 1}-{step}"
        kept = (f"the newest checkpoint, step {latest_checkpoint}, is untouched and a rerun resumes from it"
                if latest_checkpoint is not None else "no checkpoint was written")
        raise NonFiniteLoss(
            f"{' and '.join(f'{k} is {v}' for k, v in bad.items())} in {where}: training stopped before writing "
            f"a checkpoint ({kept}). Check the data (python -m mixer inspect --check) and the learning rate")


def _leaf_sums(params):
    import jax
    import jax.numpy as jnp

    width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}

    def bits(x):
        x = jnp.asarray(x)
        if x.dtype.itemsize == 8:   # 64-bit leaves: both halves
            return jnp.sum(jax.lax.bitcast_convert_type(x, jnp.uint32), dtype=jnp.uint32)
        return jnp.sum(jax.lax.bitcast_convert_type(x, width[x.dtype.itemsize]).astype(jnp.uint32),
                       dtype=jnp.uint32)

    return jax.jit(lambda p: jax.tree.map(bits, p))(params)


def require_finite_params(params: Any, step: int, latest_checkpoint: int | None) -> None:
    """NonFiniteLoss when a parameter is NaN/Inf: such a state is never written as a checkpoint."""
    import jax
    import jax.numpy as jnp

    finite = jax.device_get(jax.jit(lambda p: jnp.all(jnp.asarray(
        [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(p)])))(params))
    if not bool(finite):
        raise NonFiniteLoss(f"parameters hold NaN/Inf at step {step}: training stopped before writing a checkpoint"
                            f" (newest checkpoint: step {latest_checkpoint}, untouched)")


def state_digest(params: Any) -> dict[str, Any]:
    """{"per_leaf": {path: uint32 sum of bit patterns}, "sha256": over them} of any array pytree, on device."""
    import jax

    sums = jax.device_get(_leaf_sums(params))
    per_leaf = {jax.tree_util.keystr(path): int(value) for path, value in jax.tree_util.tree_leaves_with_path(sums)}
    text = "\n".join(f"{k}={v}" for k, v in sorted(per_leaf.items()))
    return {"per_leaf": per_leaf, "sha256": hashlib.sha256(text.encode()).hexdigest()}


def digest_mismatch(state: Any, recorded: dict | None) -> str | None:
    """Why `state` does not match the digest written at save time, or None (also for checkpoints without one)."""
    if not recorded or not isinstance(recorded, dict) or "sha256" not in recorded:
        return None
    current = state_digest(state)
    if current["sha256"] == recorded["sha256"]:
        return None
    differ = sorted(k for k, v in current["per_leaf"].items() if recorded.get("per_leaf", {}).get(k) != v)
    more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
    return f"restored arrays differ from the digest written at save time ({', '.join(differ[:3])}{more})"


def stop_if_nonfinite(checkpointer, summed: dict | None, first: int, step: int, params: Any = None) -> None:
    """check_finite (and require_finite_params when `params` is given); on NonFiniteLoss the checkpointer is
    closed first, so an earlier step's asynchronous save still completes before the error propagates."""
    try:
        check_finite(summed, first, step, checkpointer.latest_step())
        if params is not None:
            require_finite_params(params, step, checkpointer.latest_step())
    except NonFiniteLoss:
        checkpointer.close()
        raise
