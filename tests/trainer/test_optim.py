"""Schedules (cosine with warmup, linear cooldown to 1e-6) and the weight-decay mask."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trainer.configs import OptimConfig
from trainer.optim import decay_mask, make_optimizer, make_schedule

CFG = OptimConfig(lr=1e-3, min_lr_ratio=0.1, weight_decay=0.1, clip_norm=1.0)


def test_cosine_schedule_values():
    lr = make_schedule(CFG, 110, {"kind": "cosine", "warmup_steps": 10})
    assert float(lr(0)) == pytest.approx(1e-4)           # lr * 1 / warmup
    assert float(lr(9)) == pytest.approx(1e-3)           # end of warmup: peak
    assert float(lr(10)) == pytest.approx(1e-3)          # cosine starts at the peak
    mid = 10 + (110 - 1 - 10) / 2                        # halfway through the decay
    assert float(lr(mid)) == pytest.approx((1e-3 + 1e-4) / 2, rel=1e-5)
    assert float(lr(109)) == pytest.approx(1e-4, rel=1e-5)  # last update: min_lr_ratio * lr
    values = np.asarray(jax.vmap(lr)(jnp.arange(10, 110)))
    assert (np.diff(values) <= 1e-12).all()


def test_schedule_comes_from_the_mixture_and_missing_keys_from_the_recipe():
    """One owner: the mixture's schedule; a key it lacks takes mixer/presets.py's value (1325 warmup, 1e-6)."""
    from mixer.presets import COOLDOWN_FINAL_LR, WARMUP_STEPS

    assert float(make_schedule(CFG, 100, {"kind": "cosine", "warmup_steps": 10})(4)) == pytest.approx(5e-4)
    assert float(make_schedule(CFG, 100, {"kind": "cosine", "warmup_steps": 5})(4)) == pytest.approx(1e-3)
    assert float(make_schedule(CFG, 10_000, {"kind": "cosine"})(4)) == pytest.approx(1e-3 * 5 / WARMUP_STEPS)
    assert float(make_schedule(CFG, 50, {"kind": "linear"})(49)) == pytest.approx(COOLDOWN_FINAL_LR, rel=1e-4)
    assert not {"warmup_steps", "final_lr"} & set(OptimConfig.__dataclass_fields__)


def test_linear_cooldown_ends_at_1e_6():
    lr = make_schedule(CFG, 50, {"kind": "linear", "final_lr": 1e-6})
    assert float(lr(0)) == pytest.approx(1e-3)
    assert float(lr(49)) == pytest.approx(1e-6, rel=1e-4)
    assert float(lr(1000)) == pytest.approx(1e-6, rel=1e-4)  # clamped past the end
    restored = make_schedule(CFG, 50, {"kind": "linear", "final_lr": 1e-6}, start_lr=2.5e-4)
    assert float(restored(0)) == pytest.approx(2.5e-4)
    assert float(restored(24.5)) == pytest.approx((2.5e-4 + 1e-6) / 2, rel=1e-4)


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="unknown schedule kind"):
        make_schedule(CFG, 10, {"kind": "step"})
    with pytest.raises(ValueError, match="warmup_steps"):
        make_schedule(CFG, 10, {"kind": "cosine", "warmup_steps": -1})
    short = make_schedule(CFG, 5, {"kind": "cosine", "warmup_steps": 10})  # debug run: only ramps up
    assert float(short(4)) == pytest.approx(5e-4)


def _params():
    return {"embed": {"embedding": jnp.ones((8, 4))},
            "block_0": {"norm": {"scale": jnp.ones((4,))},
                        "mlp": {"up": {"kernel": jnp.ones((4, 6))}},
                        "attn": {"query": {"kernel": jnp.ones((4, 2, 2))}}},
            "final_norm": {"scale": jnp.ones((4,))}}


def test_weight_decay_mask_excludes_norms_and_embeddings():
    mask = decay_mask(_params())
    assert mask["embed"]["embedding"] is False
    assert mask["block_0"]["norm"]["scale"] is False and mask["final_norm"]["scale"] is False
    assert mask["block_0"]["mlp"]["up"]["kernel"] is True
    assert mask["block_0"]["attn"]["query"]["kernel"] is True


def test_optimizer_decays_only_masked_leaves():
    params = _params()
    opt = make_optimizer(CFG, make_schedule(CFG, 100, {"kind": "linear", "final_lr": 1e-6}))
    zero_grads = jax.tree.map(jnp.zeros_like, params)
    updates, _ = opt.update(zero_grads, opt.init(params), params)
    # with zero gradients AdamW changes a parameter only through weight decay
    assert float(jnp.abs(updates["embed"]["embedding"]).max()) == 0.0
    assert float(jnp.abs(updates["final_norm"]["scale"]).max()) == 0.0
    np.testing.assert_allclose(updates["block_0"]["mlp"]["up"]["kernel"], -1e-3 * 0.1, rtol=1e-5)
