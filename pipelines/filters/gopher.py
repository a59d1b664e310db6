"""Gopher quality and repetition rules for prose (`text`), and the prose rules' one config.

Values are those of Gopher (Rae et al. 2021, appendix A.1.1 and table A1) as
implemented by datatrove's `GopherQualityFilter` / `GopherRepetitionFilter`. The C4
document rules (pipelines/filters/c4.py) share `TextFilterConfig`, so one preset
(`TEXT`, `LIGHT`) sets every prose rule.
Words are whitespace tokens (datatrove uses a language word tokenizer; whitespace
is the language-agnostic Gopher definition).
"""
from __future__ import annotations

import dataclasses
import re
import string
from collections import Counter

from pipelines.document import Document

_PUNCT = frozenset(string.punctuation + "…“”‘’«»–—")
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
_BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "‣", "⁃", "◦", "-", "*", "·")
_ELLIPSES = ("...", "…")


@dataclasses.dataclass(frozen=True)
class TextFilterConfig:
    # Gopher quality filter.
    min_words: int = 50                  # Gopher: 50 <= words <= 100,000
    max_words: int = 100_000
    min_mean_word_length: float = 3.0    # Gopher: mean word length in [3, 10] chars
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1   # Gopher: ('#' + '...') / words <= 0.1
    max_bullet_lines_ratio: float = 0.9  # Gopher: <= 90% of lines start with a bullet
    max_ellipsis_lines_ratio: float = 0.3  # Gopher: <= 30% of lines end with an ellipsis
    min_alpha_words_ratio: float = 0.8   # Gopher: >= 80% of words contain a letter
    min_stop_words: int = 2              # Gopher: >= 2 of the English stop words below
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
    # Gopher repetition filter (table A1).
    max_dup_line_fraction: float = 0.3
    max_dup_para_fraction: float = 0.3
    max_dup_line_char_fraction: float = 0.2
    max_dup_para_char_fraction: float = 0.2
    top_ngram_char_fractions: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_ngram_char_fractions: tuple[tuple[int, float], ...] = (
        (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
    # C4 document rules. C4 drops pages with "lorem ipsum" and with any word over
    # 1000 chars. C4 also drops every page containing "{"; that would remove all of
    # arXiv's LaTeX and code-bearing prose from SlimPajama, so it is off by default.
    c4_lorem_ipsum: bool = True
    c4_max_word_length: int = 1000
    c4_curly_bracket: bool = False


# Light preset for StackExchange threads, math and instructions: length, alphabet
# and stop-word sanity, no repetition or bullet rules (Q&A and math are terse,
# listy and repetitive by nature).
LIGHT = TextFilterConfig(min_words=10, max_symbol_word_ratio=1.0, max_bullet_lines_ratio=1.0,
                         max_ellipsis_lines_ratio=1.0, min_alpha_words_ratio=0.0,
                         min_mean_word_length=0.0, max_mean_word_length=1e9,
                         max_dup_line_fraction=1.0, max_dup_para_fraction=1.0,
                         max_dup_line_char_fraction=1.0, max_dup_para_char_fraction=1.0,
                         top_ngram_char_fractions=(), dup_ngram_char_fractions=(),
                         min_stop_words=0, c4_lorem_ipsum=False)

def gopher_quality(doc: Document, cfg: TextFilterConfig) -> str | None:
    text = doc.text
    words = text.split()
    n = len(words)
    if n < cfg.min_words:
        return f"too_few_words: {n} < {cfg.min_words}"
    if n > cfg.max_words:
        return f"too_many_words: {n} > {cfg.max_words}"
    content = [w for w in words if any(ch not in _PUNCT for ch in w)]
    mean = sum(len(w) for w in content) / len(content) if content else 0.0
    if not cfg.min_mean_word_length <= mean <= cfg.max_mean_word_length:
        return f"mean_word_length: {mean:.2f} not in [{cfg.min_mean_word_length:g}, {cfg.max_mean_word_length:g}]"
    symbols = text.count("#") + sum(text.count(e) for e in _ELLIPSES)
    if symbols / n > cfg.max_symbol_word_ratio:
        return f"symbol_word_ratio: {symbols / n:.3f} > {cfg.max_symbol_word_ratio:g}"
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    bullets = sum(line.startswith(_BULLETS) for line in lines) / len(lines)
    if bullets > cfg.max_bullet_lines_ratio:
        return f"bullet_lines_ratio: {bullets:.3f} > {cfg.max_bullet_lines_ratio:g}"
    ellipsis = sum(line.endswith(_ELLIPSES) for line in lines) / len(lines)
    if ellipsis > cfg.max_ellipsis_lines_ratio:
        return f"ellipsis_lines_ratio: {ellipsis:.3f} > {cfg.max_ellipsis_lines_ratio:g}"
    alpha = sum(any(ch.isalpha() for ch in w) for w in words) / n
    if alpha < cfg.min_alpha_words_ratio:
        return f"alpha_words_ratio: {alpha:.3f} < {cfg.min_alpha_words_ratio:g}"
    if cfg.min_stop_words:
        found = set(cfg.stop_words).intersection(w.lower().strip(string.punctuation) for w in words)
        if len(found) < cfg.min_stop_words:
            return f"stop_words: {len(found)} < {cfg.min_stop_words}"
    return None


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated elements, characters in the repeats), first occurrence not counted."""
    seen: set[str] = set()
    n_dup = chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            chars += len(item)
        else:
            seen.add(item)
    return n_dup, chars


def _top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent n-gram (only if it repeats)."""
    counts = Counter(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    return len(gram) * count if count > 1 else 0


def _dup_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams seen before, never counting a word twice (Gopher)."""
    seen: set[str] = set()
    chars = i = 0
    while i < len(words) - n + 1:
        gram = "".join(words[i:i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def gopher_repetition(doc: Document, cfg: TextFilterConfig) -> str | None:
    text = doc.text
    if not text.strip():
        return None
    size = len(text)
    paragraphs = _PARAGRAPHS.split(text.strip())
    n_dup, chars = _duplicates(paragraphs)
    if n_dup / len(paragraphs) > cfg.max_dup_para_fraction:
        return f"dup_para_fraction: {n_dup / len(paragraphs):.3f} > {cfg.max_dup_para_fraction:g}"
    if chars / size > cfg.max_dup_para_char_fraction:
        return f"dup_para_char_fraction: {chars / size:.3f} > {cfg.max_dup_para_char_fraction:g}"
    lines = _LINES.split(text)
    n_dup, chars = _duplicates(lines)
    if n_dup / len(lines) > cfg.max_dup_line_fraction:
        return f"dup_line_fraction: {n_dup / len(lines):.3f} > {cfg.max_dup_line_fraction:g}"
    if chars / size > cfg.max_dup_line_char_fraction:
        return f"dup_line_char_fraction: {chars / size:.3f} > {cfg.max_dup_line_char_fraction:g}"
    words = text.split()
    for n, limit in cfg.top_ngram_char_fractions:
        frac = _top_ngram_chars(words, n) / size
        if frac > limit:
            return f"top_{n}gram_char_fraction: {frac:.3f} > {limit:g}"
    for n, limit in cfg.dup_ngram_char_fractions:
        frac = _dup_ngram_chars(words, n) / size
        if frac > limit:
            return f"dup_{n}gram_char_fraction: {frac:.3f} > {limit:g}"
    return None
