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
import functools
import string
from typing import NamedTuple

import numpy as np

from pipelines.document import Document

_PUNCT = frozenset(string.punctuation + "…“”‘’«»–—")
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
    counts = _quality_counts(text, cfg.stop_words)
    n = counts[0]
    if n < cfg.min_words:
        return f"too_few_words: {n} < {cfg.min_words}"
    if n > cfg.max_words:
        return f"too_many_words: {n} > {cfg.max_words}"
    content, content_chars = counts[1], counts[2]
    mean = content_chars / content if content else 0.0
    if not cfg.min_mean_word_length <= mean <= cfg.max_mean_word_length:
        return f"mean_word_length: {mean:.2f} not in [{cfg.min_mean_word_length:g}, {cfg.max_mean_word_length:g}]"
    symbols = counts[8]
    if symbols / n > cfg.max_symbol_word_ratio:
        return f"symbol_word_ratio: {symbols / n:.3f} > {cfg.max_symbol_word_ratio:g}"
    lines = counts[5] or 1   # no non-blank line: one empty line, as `[...] or [""]` counts it
    bullets = counts[6] / lines
    if bullets > cfg.max_bullet_lines_ratio:
        return f"bullet_lines_ratio: {bullets:.3f} > {cfg.max_bullet_lines_ratio:g}"
    ellipsis = counts[7] / lines
    if ellipsis > cfg.max_ellipsis_lines_ratio:
        return f"ellipsis_lines_ratio: {ellipsis:.3f} > {cfg.max_ellipsis_lines_ratio:g}"
    alpha = counts[3] / n
    if alpha < cfg.min_alpha_words_ratio:
        return f"alpha_words_ratio: {alpha:.3f} < {cfg.min_alpha_words_ratio:g}"
    if cfg.min_stop_words:
        found = _stop_words_found(text, cfg.stop_words, counts[9])
        if len(found) < cfg.min_stop_words:
            return f"stop_words: {len(found)} < {cfg.min_stop_words}"
    return None


def _quality_counts(text: str, stop_words: tuple[str, ...]) -> list[int]:
    """The kernel's counts (pipelines.filters.gopher_quality_jit.quality_counts) for this text."""
    from pipelines.filters import char_tables, gopher_quality_jit   # numba: imported where used
    tables = _tables()
    stop = char_tables.stop_word_table(stop_words) or _NO_STOP
    return gopher_quality_jit.quality_counts(char_tables.codepoints(text), tables.classes, tables.lower, tables.punct,
                                     *stop).tolist()


def _stop_words_found(text: str, stop_words: tuple[str, ...], mask: int) -> set[str]:
    """Stop words equal to some word lowercased and stripped of ASCII punctuation.

    The kernel finds ASCII stop words (bit k of `mask`); others, in plain Python.
    """
    from pipelines.filters import char_tables
    if char_tables.stop_word_table(stop_words) is not None:
        return {s for k, s in enumerate(stop_words) if mask >> k & 1}
    return set(stop_words).intersection(w.lower().strip(string.punctuation) for w in text.split())


def gopher_repetition(doc: Document, cfg: TextFilterConfig) -> str | None:
    from pipelines.filters import char_tables, gopher_repetition_jit
    text = doc.text
    if not text.strip():
        return None
    size = len(text)
    top_n, dup_n, limits = _repetition_rules(cfg)
    cp = char_tables.codepoints(text)
    counts = gopher_repetition_jit.repetition_counts(cp, _tables().classes, _powers(size + 1), top_n, dup_n, limits,
                                          size).tolist()
    paragraphs, n_dup, chars = counts[0:3]
    if n_dup / paragraphs > cfg.max_dup_para_fraction:
        return f"dup_para_fraction: {n_dup / paragraphs:.3f} > {cfg.max_dup_para_fraction:g}"
    if chars / size > cfg.max_dup_para_char_fraction:
        return f"dup_para_char_fraction: {chars / size:.3f} > {cfg.max_dup_para_char_fraction:g}"
    lines, n_dup, chars = counts[3:6]
    if n_dup / lines > cfg.max_dup_line_fraction:
        return f"dup_line_fraction: {n_dup / lines:.3f} > {cfg.max_dup_line_fraction:g}"
    if chars / size > cfg.max_dup_line_char_fraction:
        return f"dup_line_char_fraction: {chars / size:.3f} > {cfg.max_dup_line_char_fraction:g}"
    names = [f"top_{n}gram_char_fraction" for n, _ in cfg.top_ngram_char_fractions] + \
            [f"dup_{n}gram_char_fraction" for n, _ in cfg.dup_ngram_char_fractions]
    for name, limit, value in zip(names, limits[4:].tolist(), counts[6:]):
        if value < 0:
            raise AssertionError(f"{name} not computed before the first failing rule")
        frac = value / size
        if frac > limit:
            return f"{name}: {frac:.3f} > {limit:g}"
    return None


class _Tables(NamedTuple):
    classes: np.ndarray
    lower: np.ndarray
    punct: np.ndarray


_NO_STOP = (np.zeros(0, np.uint8), np.zeros(1, np.int64))


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    """Per-code-point tables, built once per process (~0.1 s)."""
    from pipelines.filters import char_tables
    return _Tables(char_tables.char_classes(_PUNCT, _BULLETS), char_tables.ascii_lower(),
                   char_tables.ascii_punctuation())


_POWERS = [np.ones(1, np.int64)]


def _powers(size: int) -> np.ndarray:
    """BASE^k for k < size, from a table grown by doubling and kept for the process."""
    table = _POWERS[0]
    if table.size < size:
        from pipelines.filters import gopher_repetition_jit
        table = gopher_repetition_jit.powers(max(size, 2 * table.size, 1 << 16))
        _POWERS[0] = table
    return table


@functools.lru_cache(maxsize=8)
def _repetition_rules(cfg: TextFilterConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top n, dup n, limits) as the kernel takes them; limits start with the paragraph and line rules."""
    top, dup = cfg.top_ngram_char_fractions, cfg.dup_ngram_char_fractions
    limits = [cfg.max_dup_para_fraction, cfg.max_dup_para_char_fraction, cfg.max_dup_line_fraction,
              cfg.max_dup_line_char_fraction] + [lim for _, lim in top] + [lim for _, lim in dup]
    return (np.array([n for n, _ in top], np.int64), np.array([n for n, _ in dup], np.int64),
            np.array(limits, np.float64))
