"""The string-level model the harness adapter and the code benchmarks share: text in, scores or text out.

Pairs are tokenized the way lm-evaluation-harness tokenizes them for its own models: trailing spaces of the
context move to the continuation, the whole string is encoded and the continuation is whatever follows the
context's tokens, so a BPE merge across the boundary cannot make the continuation's tokens differ from how
the model would see them in running text.
"""
from __future__ import annotations

from typing import Sequence

from evals.inference import Engine, GenerationConfig


class TextModel:
    """A checkpoint plus its tokenizer: loglikelihood, rolling loglikelihood and generate_until on strings."""

    def __init__(self, loaded, batch_size: int = 16):
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.engine = Engine(loaded.cfg, loaded.params, self.tokenizer.eos_id, self.tokenizer.pad_id, batch_size)

    @property
    def max_length(self) -> int:
        return self.loaded.cfg.seq_len

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip(" "))
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.tokenizer.encode(context + continuation)
        context_ids = self.tokenizer.encode(context) if context else []
        return context_ids, whole[len(context_ids):]

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return self.engine.score([self.encode_pair(c, x) for c, x in pairs])

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Whole-text log-likelihood in disjoint windows of the model's length, each with maximal context
        (lm-evaluation-harness's own window maker, so the numbers compare with any harness model)."""
        from lm_eval import utils as lm_utils

        pairs, owners = [], []
        for i, text in enumerate(texts):
            ids = self.tokenizer.encode(text)
            windows = lm_utils.get_rolling_token_windows(token_list=ids, prefix_token=self.tokenizer.eos_id,
                                                         max_seq_len=self.max_length, context_len=1)
            for window in map(lm_utils.make_disjoint_window, windows):
                pairs.append(window)
                owners.append(i)
        totals = [0.0] * len(texts)
        for owner, (logprob, _) in zip(owners, self.engine.score(pairs) if pairs else []):
            totals[owner] += logprob
        return totals

    def prompt_fit(self, prompts: Sequence[str], max_new_tokens: int) -> list[dict]:
        """Per prompt: its tokens, the tokens generation keeps of it and the new-token budget (Engine.fit)."""
        out = []
        for prompt in prompts:
            n = len(self.tokenizer.encode(prompt))
            kept, budget = self.engine.fit(n, max_new_tokens)
            out.append({"prompt_tokens": n, "prompt_tokens_kept": min(n, kept), "max_new_tokens": budget})
        return out

    def generate(self, prompts: Sequence[str], gen: GenerationConfig) -> list[str]:
        """Continuations of `prompts`, cut before the first stop string (which is not included)."""
        tok, stops = self.tokenizer, tuple(s for s in gen.stop if s)

        def stop_check(ids: list[int]) -> bool:
            return bool(stops) and any(s in tok.decode(ids) for s in stops)

        encoded = [tok.encode(p) for p in prompts]
        outputs = self.engine.generate(encoded, gen, stop_check if stops else None)
        texts = []
        for ids in outputs:
            text = tok.decode(ids)
            cut = min((text.find(s) for s in stops if s in text), default=-1)
            texts.append(text if cut < 0 else text[:cut])
        return texts
