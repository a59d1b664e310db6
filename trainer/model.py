"""Decoder-only transformer (Flax linen), the shape the paper describes (arXiv 2408.10914, section 2.3).

Block (parallel, as in GPT-J / PaLM / Cohere's models): one shared pre-RMSNorm, then attention and a SwiGLU
MLP side by side, both outputs added to the residual:  x <- x + Attn(norm(x)) + MLP(norm(x)).
No biases anywhere; RoPE on queries and keys; grouped-query attention when n_kv_heads < n_heads; final
RMSNorm; tied or untied output embedding. Parameters are float32 (param_dtype), matmuls run in bfloat16
(dtype) and the logits come back in float32. Every parameter carries logical axis names (vocab, embed,
heads, kv_heads, head_dim, mlp, norm) that trainer/sharding.py maps onto the mesh.

Packed rows: `segment_ids` number the documents inside a row (1, 2, ...; 0 = padding) and `positions`
restart at 0 per document, so a token attends only to earlier tokens of its own document.

Decoding (evals/): pass a `KVCache` and the call writes the new tokens' keys and values into cache slots
index .. index + T - 1 and attends over the whole cache (slot order is causal order, segment ids still
separate rows' padding), returning (logits, new cache). Each new token then costs one pass over the
cache instead of a pass over the whole prefix. Without a cache the code path is the training one, unchanged.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import flax
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


@flax.struct.dataclass
class KVCache:
    """Keys/values of every layer for S slots; `segments` [B,S] marks each slot's segment (0 = empty or
    padding), `index` is the next slot to write (the same for every row)."""
    keys: jax.Array       # [n_layers, B, S, K, H]
    values: jax.Array     # [n_layers, B, S, K, H]
    segments: jax.Array   # [B, S] int32
    index: jax.Array      # int32 scalar

    @classmethod
    def empty(cls, cfg: ModelConfig, batch: int, slots: int) -> "KVCache":
        shape = (cfg.n_layers, batch, slots, cfg.n_kv_heads, cfg.head_dim)
        return cls(keys=jnp.zeros(shape, _dtype(cfg.dtype)), values=jnp.zeros(shape, _dtype(cfg.dtype)),
                   segments=jnp.zeros((batch, slots), jnp.int32), index=jnp.zeros((), jnp.int32))


def cached_attention_mask(segment_ids_BxT: jax.Array, cache_segments_BxS: jax.Array, index: jax.Array) -> jax.Array:
    """[B,1,T,S] bool for T new tokens written at slots index..index+T-1: a query sees slots up to its own
    and only those of its segment (the cache segments already hold the new tokens' ids)."""
    t, s = segment_ids_BxT.shape[1], cache_segments_BxS.shape[1]
    causal_TxS = jnp.arange(s)[None, :] <= (index + jnp.arange(t))[:, None]
    same_BxTxS = segment_ids_BxT[:, :, None] == cache_segments_BxS[:, None, :]
    return (causal_TxS[None] & same_BxTxS)[:, None]


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
    def __call__(self, x_BxLxD, segment_ids_BxL, positions_BxL, layer_cache=None):
        """layer_cache: None (training) or (keys_BxSxKxH, values_BxSxKxH, segments_BxS, index); then returns
        (output, (keys, values)) with this call's keys and values written at slots index.."""
        cfg = self.cfg
        n, k, h = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        q_BxLxNxH = Dense((n, h), ("embed", "heads", "head_dim"), cfg, name="query")(x_BxLxD)
        k_BxLxKxH = Dense((k, h), ("embed", "kv_heads", "head_dim"), cfg, name="key")(x_BxLxD)
        v_BxLxKxH = Dense((k, h), ("embed", "kv_heads", "head_dim"), cfg, name="value")(x_BxLxD)
        q_BxLxNxH = rope(q_BxLxNxH, positions_BxL, cfg.rope_theta)
        k_BxLxKxH = rope(k_BxLxKxH, positions_BxL, cfg.rope_theta)
        q_BxLxNxH = nn.with_logical_constraint(q_BxLxNxH, ("act_batch", "act_length", "act_heads", None))
        if layer_cache is None:
            mask = attention_mask(segment_ids_BxL)
        else:
            keys_BxSxKxH, values_BxSxKxH, segments_BxS, index = layer_cache
            k_BxLxKxH = jax.lax.dynamic_update_slice(keys_BxSxKxH, k_BxLxKxH.astype(keys_BxSxKxH.dtype),
                                                     (0, index, 0, 0))
            v_BxLxKxH = jax.lax.dynamic_update_slice(values_BxSxKxH, v_BxLxKxH.astype(values_BxSxKxH.dtype),
                                                     (0, index, 0, 0))
            mask = cached_attention_mask(segment_ids_BxL, segments_BxS, index)
        out_BxLxNxH = jax.nn.dot_product_attention(
            q_BxLxNxH, k_BxLxKxH, v_BxLxKxH, mask=mask, implementation=cfg.attention_impl)
        # Output projection scaled by 1/sqrt(2 * n_layers): two residual branches per layer (GPT-2 style).
        out_BxLxD = Dense((cfg.d_model,), ("heads", "head_dim", "embed"), cfg, n_in=2,
                          scale=1.0 / (2 * cfg.n_layers), name="out")(out_BxLxNxH)
        return out_BxLxD if layer_cache is None else (out_BxLxD, (k_BxLxKxH, v_BxLxKxH))


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
    def __call__(self, x_BxLxD, segment_ids_BxL, positions_BxL, layer_cache=None):
        cfg = self.cfg
        h_BxLxD = RMSNorm(cfg.norm_eps, _dtype(cfg.dtype), _dtype(cfg.param_dtype), name="norm")(x_BxLxD)
        attn = Attention(cfg, name="attn")(h_BxLxD, segment_ids_BxL, positions_BxL, layer_cache)
        attn_BxLxD, kv = (attn, None) if layer_cache is None else attn
        mlp_BxLxD = SwiGLU(cfg, name="mlp")(h_BxLxD)
        x_BxLxD = x_BxLxD + attn_BxLxD + mlp_BxLxD
        x_BxLxD = nn.with_logical_constraint(x_BxLxD, ("act_batch", "act_length", "act_embed"))
        return x_BxLxD if layer_cache is None else (x_BxLxD, kv)


REMAT_POLICY = {
    "full": None,  # save nothing inside a block: recompute it in the backward pass
    "dots": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,  # keep matmul outputs
}


class Decoder(nn.Module):
    """tokens [B,L] int32 (+ segment ids, positions) -> logits [B,L,V] float32; with `cache`, (logits, cache)."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, segment_ids_BxL: jax.Array | None = None,
                 positions_BxL: jax.Array | None = None, cache: KVCache | None = None):
        cfg = self.cfg
        if cfg.vocab_size <= 0:
            raise ValueError("ModelConfig.vocab_size is 0: resolve it from the tokenizer first "
                             "(trainer.configs.resolve_vocab)")
        b, length = tokens_BxL.shape
        if cache is not None and (segment_ids_BxL is None or positions_BxL is None):
            raise ValueError("decoding with a KVCache needs explicit segment_ids and positions")
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
        if cfg.remat != "none" and cache is None:   # decoding takes no gradients: nothing to rematerialise
            block = nn.remat(Block, policy=REMAT_POLICY[cfg.remat], prevent_cse=True)
        if cache is not None:
            segments_BxS = jax.lax.dynamic_update_slice(cache.segments, segment_ids_BxL.astype(jnp.int32),
                                                        (0, cache.index))
            keys, values = [], []
        for i in range(cfg.n_layers):
            if cache is None:
                x_BxLxD = block(cfg, name=f"block_{i}")(x_BxLxD, segment_ids_BxL, positions_BxL)
            else:
                layer_cache = (cache.keys[i], cache.values[i], segments_BxS, cache.index)
                x_BxLxD, (k_i, v_i) = block(cfg, name=f"block_{i}")(x_BxLxD, segment_ids_BxL, positions_BxL,
                                                                     layer_cache)
                keys.append(k_i)
                values.append(v_i)
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
        logits_BxLxV = nn.with_logical_constraint(logits_BxLxV, ("act_batch", "act_length", "act_vocab"))
        if cache is None:
            return logits_BxLxV
        return logits_BxLxV, KVCache(keys=jnp.stack(keys), values=jnp.stack(values), segments=segments_BxS,
                                     index=cache.index + length)


def abstract_params(cfg: ModelConfig, seq_len: int = 8):
    """Parameter shapes (boxed with logical names) without allocating: jax.eval_shape over init."""
    tokens = jax.ShapeDtypeStruct((1, seq_len), jnp.int32)
    return jax.eval_shape(Decoder(cfg).init, jax.random.key(0), tokens)["params"]


def count_params(cfg: ModelConfig) -> int:
    """Total parameters, embeddings included (the tied output projection is not counted twice)."""
    leaves = jax.tree.leaves(nn.meta.unbox(abstract_params(cfg)))
    return int(sum(leaf.size for leaf in leaves))
