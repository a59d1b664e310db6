"""Decoder: shapes, causal and document masking, no biases, tied/untied, remat, dtypes."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from trainer.configs import ModelConfig
from trainer.model import Decoder, count_params

CFG = ModelConfig(vocab_size=61, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, seq_len=16,
                  dtype="float32")
L = 16


@pytest.fixture(scope="module")
def model_and_params():
    model = Decoder(CFG)
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, L), jnp.int32))
    return model.clone(), nn.meta.unbox(params)  # jit-compiled applies below: few shapes, fast calls


_JITTED = {}


def _apply(model, params, *args):
    """One compiled apply per config (then one compile per input shape)."""
    if model.cfg not in _JITTED:
        _JITTED[model.cfg] = jax.jit(model.apply)
    return _JITTED[model.cfg](params, *args)


def _tokens(seed, shape=(2, L)):
    return jnp.asarray(np.random.default_rng(seed).integers(0, CFG.vocab_size, shape), jnp.int32)


def test_output_shape_and_dtype(model_and_params):
    model, params = model_and_params
    logits = _apply(model, params, _tokens(0))
    assert logits.shape == (2, L, CFG.vocab_size) and logits.dtype == jnp.float32
    assert np.isfinite(np.asarray(logits)).all()


def test_causal_future_tokens_do_not_change_earlier_logits(model_and_params):
    model, params = model_and_params
    tokens = _tokens(1)
    changed = tokens.at[:, 10].set((tokens[:, 10] + 1) % CFG.vocab_size)
    a, b = _apply(model, params, tokens), _apply(model, params, changed)
    np.testing.assert_allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert np.abs(np.asarray(a[:, 10:] - b[:, 10:])).max() > 1e-4  # later positions do see it


def test_packed_documents_do_not_attend_across_boundaries(model_and_params):
    model, params = model_and_params
    tokens = _tokens(2, (1, L))
    segments = jnp.asarray([[1] * 6 + [2] * 7 + [0] * 3], jnp.int32)
    positions = jnp.asarray([list(range(6)) + list(range(7)) + [0, 1, 2]], jnp.int32)
    packed = _apply(model, params, tokens, segments, positions)
    # segment 2 alone, at the start of its own row, gives the same logits: nothing leaked from segment 1
    alone = _apply(model, params, tokens[:, 6:13])
    np.testing.assert_allclose(packed[:, 6:13], alone, atol=1e-5)
    # and changing segment 1 leaves segment 2 untouched
    other = tokens.at[:, :6].set((tokens[:, :6] + 7) % CFG.vocab_size)
    np.testing.assert_allclose(_apply(model, params, other, segments, positions)[:, 6:13], packed[:, 6:13],
                               atol=1e-6)
    assert np.isfinite(np.asarray(packed)).all()  # padding rows are never fully masked


def test_no_biases_anywhere_and_param_dtype(model_and_params):
    _, params = model_and_params
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        name = jax.tree_util.keystr(path)
        assert "bias" not in name, name
        assert leaf.dtype == jnp.float32, name
        if leaf.ndim == 1:  # only the RMSNorm scales are vectors
            assert name.endswith("['scale']"), name
    kv = params["params"]["block_0"]["attn"]["key"]["kernel"]
    assert kv.shape == (CFG.d_model, CFG.n_kv_heads, CFG.head_dim)  # grouped-query attention


def test_parameters_carry_logical_axis_names():
    boxed = jax.eval_shape(Decoder(CFG).init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    specs = nn.get_partition_spec(boxed)["params"]
    assert tuple(specs["embed"]["embedding"]) == ("vocab", "embed")
    assert tuple(specs["block_0"]["mlp"]["down"]["kernel"]) == ("mlp", "embed")
    assert tuple(specs["block_1"]["attn"]["query"]["kernel"]) == ("embed", "heads", "head_dim")


def test_tied_vs_untied_count_difference_is_one_vocab_matrix():
    tied = count_params(CFG)
    untied = count_params(dataclasses.replace(CFG, tie_embeddings=False))
    assert untied - tied == CFG.vocab_size * CFG.d_model
    params = jax.eval_shape(Decoder(CFG).init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    actual = sum(x.size for x in jax.tree.leaves(nn.meta.unbox(params)))
    assert actual == tied


def test_remat_policies_do_not_change_values_or_gradients(model_and_params):
    _, params = model_and_params
    tokens = _tokens(3)

    def loss(cfg, p):
        return jnp.mean(Decoder(cfg).apply(p, tokens) ** 2)

    base_val, base_grad = jax.jit(jax.value_and_grad(lambda p: loss(CFG, p)))(params)
    for policy in ("full", "dots"):
        val, grad = jax.jit(jax.value_and_grad(lambda p: loss(dataclasses.replace(CFG, remat=policy), p)))(params)
        np.testing.assert_allclose(val, base_val, rtol=1e-6)
        for g, h in zip(jax.tree.leaves(grad), jax.tree.leaves(base_grad)):
            np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-7)


def test_bfloat16_compute_keeps_float32_params_and_logits(model_and_params):
    _, params = model_and_params
    cfg = dataclasses.replace(CFG, dtype="bfloat16")
    logits = _apply(Decoder(cfg), params, _tokens(4))
    assert logits.dtype == jnp.float32
    ref = _apply(Decoder(CFG), params, _tokens(4))
    np.testing.assert_allclose(logits, ref, atol=0.1)  # same function, bf16 rounding only


def test_unresolved_vocab_is_a_clear_error():
    with pytest.raises(ValueError, match="resolve_vocab"):
        jax.eval_shape(Decoder(dataclasses.replace(CFG, vocab_size=0)).init, jax.random.key(0),
                       jnp.zeros((1, 4), jnp.int32))
