"""`python -m evals export`: a run's checkpoint as a Hugging Face model directory, `CohereForCausalLM`.

Cohere's decoder layer in `transformers` is our block: one shared pre-norm feeding attention and a SwiGLU MLP
in parallel, both added to the residual, no biases; GQA; RoPE. It differs in three places, each mapped
exactly (not approximated) by a change of basis of the weights, so the directory loads natively in
transformers, vLLM and every harness without remote code:

1. Norm. Cohere uses a mean-centred LayerNorm (no bias), we use RMSNorm. The residual stream is embedded
   isometrically into D' = D + 2N dimensions by a matrix Q (D' x D, orthonormal columns orthogonal to the
   all-ones vector): x' = Q x has zero mean, so LayerNorm(x') = sqrt(D'/D) Q x / rms(x) with
   eps' = eps * D / D'. The norm's own scale and the sqrt(D'/D) factor are folded into the weights that
   read the normalised vector (q, k, v, gate, up, the output head); the LayerNorm weights are ones. The
   embedding is E Q^T, the residual writers (attention output, MLP down) are Q W.
2. RoPE. We rotate halves (pairs i, i + hd/2), Cohere interleaves (pairs 2i, 2i + 1): a permutation of the
   query and key output columns. The head dimension grows by 2 (hd' = hd + 2, so hidden_size = N * hd' as
   every loader derives it) with the extra pair zero in q, k and v; rope_theta' = theta^(hd'/hd) keeps the
   frequency of every real pair, and q is scaled by sqrt(hd'/hd) to keep the 1/sqrt(hd) softmax scale.
3. Logit scale 1.0. The head is untied (lm_head = the folded final norm times the embedding), since the
   input embedding E Q^T and the output head differ once the final norm's scale is folded in.

The price: D' = D + 2N columns (+3% at 470m), an untied head (+V*D' parameters) and float32 weights. The
alternative, a model option that trains with LayerNorm and interleaved RoPE, would leave every existing
checkpoint unexportable and change the default model; a trust_remote_code file would not load in vLLM
or harnesses that refuse remote code. tests/evals/test_export.py checks logits, greedy generation and
harness log-likelihoods against the JAX model.

The tokenizer goes with the weights (evals/hf_tokenizer.py): tokenizer.json with the project's ids,
and the SentencePiece tokenizer.model itself.
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

FORMAT = "code-mixtures/cohere-export/1"


def basis(d_out: int, d_in: int) -> np.ndarray:
    """(d_out, d_in) float64 with orthonormal columns, all orthogonal to the all-ones vector."""
    if d_out <= d_in:
        raise ValueError(f"need d_out > d_in, got {d_out} <= {d_in}")
    seed = np.concatenate([np.ones((d_out, 1)), np.eye(d_out)[:, :d_in]], axis=1)
    q, _ = np.linalg.qr(seed)
    return q[:, 1:]


def rotary_order(head_dim: int) -> np.ndarray:
    """Interleaved position of each rotate-half dimension: i -> 2i, i + hd/2 -> 2i + 1."""
    half = head_dim // 2
    return np.array([2 * i for i in range(half)] + [2 * i + 1 for i in range(half)])


def cohere_config(cfg, eos_id: int, pad_id: int, bos_id: int) -> dict:
    """config.json of the exported model (CohereForCausalLM)."""
    hd2 = cfg.head_dim + 2
    hidden = cfg.n_heads * hd2
    theta = float(cfg.rope_theta) ** (hd2 / cfg.head_dim)
    return {
        "architectures": ["CohereForCausalLM"], "model_type": "cohere",
        "vocab_size": cfg.vocab_size, "hidden_size": hidden, "head_dim": hd2, "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads, "hidden_act": "silu", "max_position_embeddings": cfg.seq_len,
        "layer_norm_eps": cfg.norm_eps * cfg.d_model / hidden, "logit_scale": 1.0,
        "rope_theta": theta, "rope_parameters": {"rope_type": "default", "rope_theta": theta},
        "attention_bias": False, "attention_dropout": 0.0, "use_qk_norm": False, "tie_word_embeddings": False,
        "use_cache": True, "initializer_range": cfg.init_std, "bos_token_id": bos_id, "eos_token_id": eos_id,
        "pad_token_id": pad_id, "dtype": "float32", "torch_dtype": "float32",
    }


def cohere_weights(params, cfg) -> dict[str, np.ndarray]:
    """transformers CohereForCausalLM state dict (float32 numpy) computing the same function as `params`."""
    d, n, k, hd, f = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.d_ff
    hd2 = hd + 2
    wide = n * hd2
    q_basis = basis(wide, d)
    c = math.sqrt(wide / d)
    order = rotary_order(hd)

    def arr(x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def reader(kernel_DxO, scale_D):
        """(O, D') weight for a projection that reads the normalised stream."""
        return (kernel_DxO.T * scale_D[None, :]) @ q_basis.T / c

    def heads(kernel, count, scale_D, rotary, gain=1.0):
        w = arr(kernel).reshape(d, count, hd).transpose(1, 2, 0)       # [heads, hd, D]
        out = np.zeros((count, hd2, d))
        out[:, order if rotary else np.arange(hd), :] = w * gain
        return reader(out.reshape(count * hd2, d).T, scale_D)

    embed = arr(params["embed"]["embedding"])
    state = {"model.embed_tokens.weight": embed @ q_basis.T}
    for i in range(cfg.n_layers):
        block, pre = params[f"block_{i}"], f"model.layers.{i}."
        s = arr(block["norm"]["scale"])
        attn, mlp = block["attn"], block["mlp"]
        state[pre + "input_layernorm.weight"] = np.ones(wide)
        state[pre + "self_attn.q_proj.weight"] = heads(attn["query"]["kernel"], n, s, True, math.sqrt(hd2 / hd))
        state[pre + "self_attn.k_proj.weight"] = heads(attn["key"]["kernel"], k, s, True)
        state[pre + "self_attn.v_proj.weight"] = heads(attn["value"]["kernel"], k, s, False)
        out = np.zeros((n, hd2, d))
        out[:, :hd, :] = arr(attn["out"]["kernel"])
        state[pre + "self_attn.o_proj.weight"] = q_basis @ out.reshape(n * hd2, d).T
        state[pre + "mlp.gate_proj.weight"] = reader(arr(mlp["gate"]["kernel"]), s)
        state[pre + "mlp.up_proj.weight"] = reader(arr(mlp["up"]["kernel"]), s)
        state[pre + "mlp.down_proj.weight"] = q_basis @ arr(mlp["down"]["kernel"]).T
    head_DxV = embed.T if cfg.tie_embeddings else arr(params["unembed"])
    state["model.norm.weight"] = np.ones(wide)
    state["lm_head.weight"] = reader(head_DxV, arr(params["final_norm"]["scale"]))
    expected = (cfg.vocab_size, wide)
    if state["lm_head.weight"].shape != expected or state["model.embed_tokens.weight"].shape != expected:
        raise ValueError(f"unexpected head shape {state['lm_head.weight'].shape}, wanted {expected}")
    return {name: np.ascontiguousarray(w, dtype=np.float32) for name, w in state.items()}


def export(workdir: str, output: str, step: int | None = None, tokenizer: str | None = None,
           overwrite: bool = False, say=print) -> dict:
    """Write OUTPUT (local or gs://) from RUN's checkpoint; returns the export record (export.json)."""
    try:
        from safetensors.numpy import save as save_safetensors
    except ImportError as err:
        from evals.errors import InputError
        raise InputError("evals export needs safetensors: pip install 'code-mixtures[eval]'") from err

    from evals import hf_tokenizer
    from evals.checkpoint import CheckpointError, load
    from tokens import paths

    if paths.exists(paths.join(output, "config.json")) and not overwrite:
        raise CheckpointError(f"{output} already holds an export (config.json); pass --overwrite to replace it")
    loaded = load(workdir, tokenizer, step)
    cfg, tok = loaded.cfg, loaded.tokenizer
    if cfg.head_dim % 2:
        raise CheckpointError(f"head_dim {cfg.head_dim} is odd: RoPE pairs need an even head dimension")
    bos = tok.sp.bos_id()
    config = cohere_config(cfg, tok.eos_id, tok.pad_id, bos if bos >= 0 else tok.eos_id)
    weights = cohere_weights(loaded.params, cfg)
    files = hf_tokenizer.write(tok.sp.serialized_model_proto(), output, cfg.seq_len)
    generation = {"bos_token_id": config["bos_token_id"], "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id,
                  "do_sample": False}
    record = {"format": FORMAT, "checkpoint": workdir, "step": loaded.step,
              "tokens_seen": loaded.meta.get("tokens_seen"), "tokenizer_sha256": tok.sha256,
              "model": dataclasses.asdict(cfg),
              "parameters": int(sum(w.size for w in weights.values()))}
    paths.write_atomic(paths.join(output, "model.safetensors"),
                       save_safetensors(weights, metadata={"format": "pt"}))
    for name, body in (("generation_config.json", generation), ("export.json", record), ("config.json", config)):
        paths.write_atomic(paths.join(output, name), (json.dumps(body, indent=2, allow_nan=False) + "\n").encode("utf-8"))
    files += ["model.safetensors", "generation_config.json", "export.json", "config.json"]
    say(f"exported {workdir} step {loaded.step} -> {output} ({record['parameters']:,} parameters; "
        f"{', '.join(sorted(files))})")
    return record
