"""datatrove configured to do the same work as our pipeline, for side-by-side benchmarks.

datatrove's English word tokenizer is spaCy (not installed, and far slower than a split);
our Gopher rules and shingles split on whitespace. `WhitespaceWords` gives datatrove the
same words, and `same_shingles_norm()` turns off the text normalisations we do not do
(punctuation removal, digit folding, diacritics), so both systems shingle identical
lowercased whitespace word 5-grams. Differences that remain are documented where used:
datatrove hashes shingles with xxhash64 and permutes with (a*h + b) mod (2^61-1) (the
a*h product wraps at 2^64 first), we use MurmurHash3 + fmix64 + a*h + b mod 2^64.
"""
from __future__ import annotations

from datatrove.utils.word_tokenizers import WordTokenizer


class WhitespaceWords(WordTokenizer):
    """Words = str.split() (what pipelines.filters.gopher and pipelines.dedup.minhash use)."""

    def __init__(self):
        super().__init__("en")

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for s in text.split("\n") if s.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, pos = [], 0
        for line in text.split("\n"):
            if line.strip():
                spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans


def same_shingles_norm():
    """TextNormConfig that only lowercases and collapses whitespace, as pipelines.dedup.minhash.shingles does."""
    from datatrove.utils.text import TextNormConfig

    return TextNormConfig(lowercase=True, norm_whitespace=True, remove_punctuation=False,
                          norm_unicode_diacritics=False, norm_numbers=False,
                          norm_weekdays=False, norm_monthnames=False)


def minhash_config(num_perm: int = 256, ngram: int = 5, seed: int = 1, default_norm: bool = False):
    """datatrove MinhashConfig with num_perm = buckets x hashes_per_bucket permutations, 64-bit xxhash."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.utils.hashing import HashConfig

    buckets = 16 if num_perm % 16 == 0 else 1
    kwargs = {} if default_norm else {"norm_config": same_shingles_norm()}
    return MinhashConfig(n_grams=ngram, num_buckets=buckets, hashes_per_bucket=num_perm // buckets, seed=seed,
                         hash_config=HashConfig(precision=64, hash_fc="xxhash"), **kwargs)
