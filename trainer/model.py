"""Decoder-only transformer (Flax linen), the shape the paper describes (arXiv 2408.10914, section 2.3).

Block (parallel, as in GPT-J / PaLM / Cohere's models): one shared pre-RMSNorm, then attention and a SwiGLU
MLP side by side, both outputs added to the residual:  x <- x + Attn(norm(x)) + MLP(norm(x)).
No biases anywhere; RoPE on queries and keys; grouped-query attention when n_kv_heads < n_heads; final
RMSNorm; tied or untied output embedding. Parameters are float32 (param_dtype), matmuls run in bfloat16
(dtype) and the logits come back in float32. Every parameter carries logical axis names (vocab, embed,
heads, kv_heads, head_dim, mlp, norm) that trainer/sharding.py maps onto the mesh.

Packed rows: `segment_ids` number the documents inside a row (1, 2, ...; 0 = padding) and `positions`
restart at 0 per document, so a token attends only to earlier tokens of its own document.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from trainer.configs import ModelConfig


def _dtype(name: str):
    return jnp.dtype(name)


def rope(x_BxLxNxH: jax.Array, positions_BxL: jax.Array, theta: float) -> jax.Array:
    """Rotary position embedding (rotate-half form), computed in float32."""
    h = x_BxLxNxH.shape[-1]
    freq_H2 = theta ** (-jnp.arange(0, h, 2, dtype=jnp.float32) / h)
    angle_BxLx1xH2 = positions_BxL.astype(jnp.float32)[:, :, None, None] * freq_H2
    sin, cos = jnp.sin(angle_BxLx1xH2), jnp.cos(angle_BxLx1xH2)
    x1, x2 = jnp.split(x_BxLxNxH.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.astype(x_BxLxNxH.dtype)


def attention_mask(segment_ids_BxL: jax.Array) -> jax.Array:
    """[B,1,L,L] bool: causal and within the same segment. Padding (segment 0) sees only padding, so no
    row is ever fully masked (no NaN); its loss is masked anyway."""
    length = segment_ids_BxL.shape[1]
    causal_LxL = jnp.tril(jnp.ones((length, length), dtype=bool))
    same_BxLxL = segment_ids_BxL[:, :, None] == segment_ids_BxL[:, None, :]
    return (causal_LxL[None] & same_BxLxL)[:, None]


class RMSNorm(nn.Module):
    eps: float
    dtype: jnp.dtype
    param_dtype: jnp.dtype

    @nn.compact
    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        scale_D = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("norm",)),
                             (x_BxLxD.shape[-1],), self.param_dtype)
        x = x_BxLxD.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
        return (x * scale_D.astype(jnp.float32)).astype(self.dtype)


class Dense(nn.Module):
    """Bias-free projection contracting the trailing `n_in` input axes: kernel shape = input axes + features,
    with logical axis `names`. Fan-in-scaled truncated-normal init (fan-in = product of contracted axes)."""
    features: tuple[int, ...]
    names: tuple[str, ...]
    cfg: ModelConfig
    n_in: int = 1
    scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        in_shape = x.shape[x.ndim - self.n_in:]
        init = nn.initializers.variance_scaling(self.scale, "fan_in", "truncated_normal",
                                                in_axis=tuple(range(self.n_in)),
                                                out_axis=tuple(range(self.n_in, self.n_in + len(self.features))))
        kernel = self.param("kernel", nn.with_logical_partitioning(init, self.names),
                            in_shape + tuple(self.features), _dtype(self.cfg.param_dtype))
        dtype = _dtype(self.cfg.dtype)
        return jnp.tensordot(x.astype(dtype), kernel.astype(dtype), axes=self.n_in)


class Attention(nn.Module):
    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BxLxD, segment_ids_BxL, positions_BxL):
        cfg = self.cfg
        n, k, h = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        q_BxLxNxH = Dense((n, h), ("embed", "heads", "head_dim"), cfg, name="query")(x_BxLxD)
        k_BxLxKxH = Dense((k, h), ("embed", "kv_heads", "head_dim"), cfg, name="key")(x_BxLxD)
        v_BxLxKxH = Dense((k, h), ("embed", "kv_heads", "head_dim"), cfg, name="value")(x_BxLxD)
        q_BxLxNxH = rope(q_BxLxNxH, positions_BxL, cfg.rope_theta)
        k_BxLxKxH = rope(k_BxLxKxH, positions_BxL, cfg.rope_theta)
        q_BxLxNxH = nn.with_logical_constraint(q_BxLxNxH, ("act_batch", "act_length", "act_heads", None))
        out_BxLxNxH = jax.nn.dot_product_attention(
            q_BxLxNxH, k_BxLxKxH, v_BxLxKxH, mask=attention_mask(segment_ids_BxL),
            implementation=cfg.attention_impl)
        # Output projection scaled by 1/sqrt(2 * n_layers): two residual branches per layer (GPT-2 style).
        return Dense((cfg.d_model,), ("heads", "head_dim", "embed"), cfg, n_in=2,
                     scale=1.0 / (2 * cfg.n_layers), name="out")(out_BxLxNxH)


class SwiGLU(nn.Module):
    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BxLxD):
        cfg = self.cfg
        gate_BxLxF = Dense((cfg.d_ff,), ("embed", "mlp"), cfg, name="gate")(x_BxLxD)
        up_BxLxF = Dense((cfg.d_ff,), ("embed", "mlp"), cfg, name="up")(x_BxLxD)
        h_BxLxF = nn.silu(gate_BxLxF) * up_BxLxF
        h_BxLxF = nn.with_logical_constraint(h_BxLxF, ("act_batch", "act_length", "act_mlp"))
        return Dense((cfg.d_model,), ("mlp", "embed"), cfg, scale=1.0 / (2 * cfg.n_layers), name="down")(h_BxLxF)


class Block(nn.Module):
    """x + Attn(RMSNorm(x)) + SwiGLU(RMSNorm(x)), one norm shared by both branches."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BxLxD, segment_ids_BxL, positions_BxL):
        cfg = self.cfg
        h_BxLxD = RMSNorm(cfg.norm_eps, _dtype(cfg.dtype), _dtype(cfg.param_dtype), name="norm")(x_BxLxD)
        attn_BxLxD = Attention(cfg, name="attn")(h_BxLxD, segment_ids_BxL, positions_BxL)
        mlp_BxLxD = SwiGLU(cfg, name="mlp")(h_BxLxD)
        x_BxLxD = x_BxLxD + attn_BxLxD + mlp_BxLxD
        return nn.with_logical_constraint(x_BxLxD, ("act_batch", "act_length", "act_embed"))


REMAT_POLICY = {
    "full": None,  # save nothing inside a block: recompute it in the backward pass
    "dots": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,  # keep matmul outputs
}


class Decoder(nn.Module):
    """tokens [B,L] int32 (+ segment ids, positions) -> logits [B,L,V] float32."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, segment_ids_BxL: jax.Array | None = None,
                 positions_BxL: jax.Array | None = None) -> jax.Array:
        cfg = self.cfg
        if cfg.vocab_size <= 0:
            raise ValueError("ModelConfig.vocab_size is 0: resolve it from the tokenizer first "
                             "(trainer.configs.resolve_vocab)")
        b, length = tokens_BxL.shape
        if segment_ids_BxL is None:
            segment_ids_BxL = jnp.ones((b, length), jnp.int32)
        if positions_BxL is None:
            positions_BxL = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (b, length))
        embed = nn.Embed(cfg.vocab_size, cfg.d_model, dtype=_dtype(cfg.dtype),
                         param_dtype=_dtype(cfg.param_dtype), name="embed",
                         embedding_init=nn.with_logical_partitioning(
                             nn.initializers.normal(cfg.init_std), ("vocab", "embed")))
        x_BxLxD = embed(tokens_BxL)
        x_BxLxD = nn.with_logical_constraint(x_BxLxD, ("act_batch", "act_length", "act_embed"))
        block = Block
        if cfg.remat != "none":
            block = nn.remat(Block, policy=REMAT_POLICY[cfg.remat], prevent_cse=True)
        for i in range(cfg.n_layers):
            x_BxLxD = block(cfg, name=f"block_{i}")(x_BxLxD, segment_ids_BxL, positions_BxL)
        x_BxLxD = RMSNorm(cfg.norm_eps, _dtype(cfg.dtype), _dtype(cfg.param_dtype), name="final_norm")(x_BxLxD)
        if cfg.tie_embeddings:
            table_VxD = embed.embedding.astype(_dtype(cfg.dtype))
            logits_BxLxV = jnp.einsum("bld,vd->blv", x_BxLxD, table_VxD, preferred_element_type=jnp.float32)
        else:
            kernel_DxV = self.param("unembed", nn.with_logical_partitioning(
                nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal"), ("embed", "vocab")),
                (cfg.d_model, cfg.vocab_size), _dtype(cfg.param_dtype))
            logits_BxLxV = jnp.einsum("bld,dv->blv", x_BxLxD, kernel_DxV.astype(_dtype(cfg.dtype)),
                                      preferred_element_type=jnp.float32)
        return nn.with_logical_constraint(logits_BxLxV, ("act_batch", "act_length", "act_vocab"))


def abstract_params(cfg: ModelConfig, seq_len: int = 8):
    """Parameter shapes (boxed with logical names) without allocating: jax.eval_shape over init."""
    tokens = jax.ShapeDtypeStruct((1, seq_len), jnp.int32)
    return jax.eval_shape(Decoder(cfg).init, jax.random.key(0), tokens)["params"]


def count_params(cfg: ModelConfig) -> int:
    """Total parameters, embeddings included (the tied output projection is not counted twice)."""
    leaves = jax.tree.leaves(nn.meta.unbox(abstract_params(cfg)))
    return int(sum(leaf.size for leaf in leaves))
