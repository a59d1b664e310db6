"""Batched scoring and KV-cached generation with a loaded checkpoint (evals.checkpoint.load).

Scoring: each (context, continuation) pair of token lists becomes one row, inputs = (context +
continuation)[:-1], targets = shifted by one, truncated from the left to the model's seq_len (the positions
it was trained on); the continuation's log-probability is the sum over its targets, and `greedy` says whether
every one of them is the argmax. An empty context is replaced by EOS: training packs documents as separate
segments, so EOS is the only "start of document" signal the vocabulary has.

Generation: prompts are left-padded to a common length (segment 0 = padding, positions restart at 0 at each
prompt's first token), prefilled in one call, then one token per call through the KV cache
(trainer.model.KVCache): a step costs one pass over the cache slots, not over the whole prefix. Prompt and
generation share the trained positions: `Engine.fit` keeps the whole prompt and shortens the generation
rather than silently cutting the prompt, per request, so a request's budget never depends on its batch. Sampling is
greedy at temperature 0, else temperature + nucleus (top-p); every request has its own key,
fold_in(key(seed), request number), so its output does not depend on which batch it landed in.

Shapes are bucketed (lengths rounded up to powers of two from 128, fixed batch size) so a run compiles a few programs,
not one per request.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 128        # tokens generated at most per request
    temperature: float = 0.0         # 0 = greedy; > 0 samples from softmax(logits / temperature)
    top_p: float = 1.0               # nucleus: sample among the smallest set of tokens with this much mass
    stop: tuple[str, ...] = ()       # generation ends before the first occurrence of any of these strings
    seed: int = 0                    # sampling seed (request i uses fold_in(key(seed), i))

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"bad generation config {self}")


MIN_BUCKET = 128   # shorter rows share one program: padding them is cheaper than compiling another


def _bucket(n: int, cap: int) -> int:
    """Smallest power of two >= n (at least MIN_BUCKET), at most cap."""
    return min(cap, max(MIN_BUCKET, 1 << max(0, int(n) - 1).bit_length()))


def sample_tokens(logits_BxV, request_keys_B, step, temperature, top_p):
    """Next token per row: argmax when temperature == 0, else a nucleus sample with the key
    fold_in(request key, step), so a request's draws depend only on its own key and position."""
    import jax
    import jax.numpy as jnp

    keys_B = jax.vmap(jax.random.fold_in, in_axes=(0, None))(request_keys_B, step)
    greedy_B = jnp.argmax(logits_BxV, axis=-1)
    scaled_BxV = logits_BxV / jnp.maximum(temperature, 1e-6)
    order_BxV = jnp.argsort(-scaled_BxV, axis=-1)
    sorted_BxV = jnp.take_along_axis(scaled_BxV, order_BxV, axis=-1)
    probs_BxV = jax.nn.softmax(sorted_BxV, axis=-1)
    before_BxV = jnp.cumsum(probs_BxV, axis=-1) - probs_BxV      # mass strictly above each candidate
    sorted_BxV = jnp.where(before_BxV < top_p, sorted_BxV, -jnp.inf)  # the top token always stays
    choice_B = jax.vmap(jax.random.categorical)(keys_B, sorted_BxV)
    sampled_B = jnp.take_along_axis(order_BxV, choice_B[:, None], axis=-1)[:, 0]
    return jnp.where(temperature > 0, sampled_B, greedy_B).astype(jnp.int32)


class Engine:
    """Jitted scoring and generation for one model (cfg, params); token ids in, token ids out."""

    def __init__(self, cfg, params, eos_id: int, pad_id: int = 0, batch_size: int = 16):
        import jax

        from trainer.model import Decoder

        self.cfg, self.params, self.eos_id, self.pad_id = cfg, params, int(eos_id), int(pad_id)
        self.batch_size = int(batch_size)
        self.model = Decoder(cfg)
        self._score = jax.jit(self._score_fn)
        self._logits = jax.jit(lambda params, tokens_BxL: self.model.apply({"params": params}, tokens_BxL))
        self._prefill = jax.jit(self._prefill_fn)
        self._step = jax.jit(self._step_fn, donate_argnums=(1,))
        self._sample = jax.jit(sample_tokens)

    # ------------------------------------------------------------------------------------------- scoring

    def _score_fn(self, params, inputs_BxL, targets_BxL, segments_BxL, positions_BxL):
        import jax
        import jax.numpy as jnp

        logits_BxLxV = self.model.apply({"params": params}, inputs_BxL, segments_BxL, positions_BxL)
        logp_BxLxV = jax.nn.log_softmax(logits_BxLxV, axis=-1)
        target_lp_BxL = jnp.take_along_axis(logp_BxLxV, targets_BxL[..., None], axis=-1)[..., 0]
        return target_lp_BxL, jnp.argmax(logits_BxLxV, axis=-1) == targets_BxL

    def logits(self, tokens_BxL: np.ndarray) -> np.ndarray:
        """Full-sequence logits without a cache (the training forward pass); for checks and tests."""
        return np.asarray(self._logits(self.params, np.asarray(tokens_BxL, np.int32)))

    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[tuple[float, bool]]:
        """(sum of log p(continuation | context), continuation is the greedy one) per (context, continuation)."""
        limit = self.cfg.seq_len
        rows = []
        for context, continuation in pairs:
            if not continuation:
                raise ValueError("empty continuation: nothing to score")
            tokens = (list(context) or [self.eos_id]) + list(continuation)
            tokens = tokens[-(limit + 1):]
            rows.append((tokens, min(len(continuation), len(tokens) - 1)))
        out: list[tuple[float, bool] | None] = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = _bucket(max(len(rows[i][0]) - 1 for i in chunk), limit)
            shape = (self.batch_size, width)
            inputs, targets = np.full(shape, self.pad_id, np.int32), np.full(shape, self.pad_id, np.int32)
            segments, positions = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
            for r, i in enumerate(chunk):
                tokens, _ = rows[i]
                n = len(tokens) - 1
                inputs[r, :n], targets[r, :n] = tokens[:-1], tokens[1:]
                segments[r, :n], positions[r, :n] = 1, np.arange(n)
            lp, greedy = self._score(self.params, inputs, targets, segments, positions)
            lp, greedy = np.asarray(lp), np.asarray(greedy)
            for r, i in enumerate(chunk):
                tokens, k = rows[i]
                n = len(tokens) - 1
                out[i] = (float(lp[r, n - k:n].sum(dtype=np.float64)), bool(greedy[r, n - k:n].all()))
        return out  # type: ignore[return-value]

    # ---------------------------------------------------------------------------------------- generation

    def _prefill_fn(self, params, cache, tokens_BxP, segments_BxP, positions_BxP):
        logits_BxPxV, cache = self.model.apply({"params": params}, tokens_BxP, segments_BxP, positions_BxP,
                                               cache=cache)
        return logits_BxPxV[:, -1], cache

    def _step_fn(self, params, cache, token_B, position_B):
        import jax.numpy as jnp

        logits_Bx1xV, cache = self.model.apply({"params": params}, token_B[:, None],
                                               jnp.ones_like(token_B)[:, None], position_B[:, None], cache=cache)
        return logits_Bx1xV[:, 0], cache

    def generate(self, prompts: Sequence[Sequence[int]], gen: GenerationConfig,
                 stop_check: Callable[[list[int]], bool] | None = None, first_index: int = 0) -> list[list[int]]:
        """New token ids per prompt (EOS excluded). `stop_check(ids)` ends a row early (stop strings)."""
        out: list[list[int]] = []
        for start in range(0, len(prompts), self.batch_size):
            out += self._generate_batch(prompts[start:start + self.batch_size], gen, stop_check,
                                        first_index + start)
        return out

    def fit(self, prompt_len: int, max_new: int) -> tuple[int, int]:
        """(prompt tokens kept, tokens to generate at most) within the trained positions (seq_len).

        The whole prompt is kept whenever it leaves room for one new token: the generation budget shrinks to
        seq_len - prompt_len instead of cutting the prompt (a completion of a prompt cut to its last tokens
        answers a different question). Only a prompt of seq_len tokens or more loses its head: it keeps its
        last seq_len - 1 tokens and generates one. Callers record `kept` (evals.code does, per problem)."""
        limit = self.cfg.seq_len
        kept = min(max(int(prompt_len), 1), limit - 1)
        return kept, max(1, min(int(max_new), limit - kept))

    def _generate_batch(self, prompts, gen: GenerationConfig, stop_check, first_index: int) -> list[list[int]]:
        import jax
        import jax.numpy as jnp

        from trainer.model import KVCache

        b = self.batch_size
        plans = [self.fit(len(p), gen.max_new_tokens) for p in prompts]   # per row: batch-independent
        width = _bucket(max(kept for kept, _ in plans), self.cfg.seq_len)
        max_new = max(budget for _, budget in plans)
        slots = width + max_new
        tokens, segments = np.full((b, width), self.pad_id, np.int32), np.zeros((b, width), np.int32)
        positions, lengths = np.zeros((b, width), np.int32), np.zeros(b, np.int32)
        for r, (prompt, (kept, _)) in enumerate(zip(prompts, plans)):
            ids = (list(prompt) or [self.eos_id])[-kept:]
            n = len(ids)
            tokens[r, width - n:], segments[r, width - n:], positions[r, width - n:] = ids, 1, np.arange(n)
            lengths[r] = n
        base = jax.random.key(gen.seed)
        request_keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(first_index, first_index + b))
        temperature, top_p = jnp.float32(gen.temperature), jnp.float32(gen.top_p)
        cache = KVCache.empty(self.cfg, b, slots)
        logits_BxV, cache = self._prefill(self.params, cache, tokens, segments, positions)
        done = np.array([r >= len(prompts) for r in range(b)])
        generated: list[list[int]] = [[] for _ in range(b)]
        for t in range(max_new):
            token_B = np.asarray(self._sample(logits_BxV, request_keys, t, temperature, top_p))
            for r in range(len(prompts)):
                if done[r]:
                    continue
                if token_B[r] == self.eos_id:
                    done[r] = True
                    continue
                generated[r].append(int(token_B[r]))
                if len(generated[r]) >= plans[r][1] or (stop_check is not None and stop_check(generated[r])):
                    done[r] = True
            if done.all() or t == max_new - 1:
                break
            logits_BxV, cache = self._step(self.params, cache, token_B, lengths + t)
        return generated[:len(prompts)]

