"""The Gopher rules as first written, in plain Python: the reference the compiled rules must equal.

Kept here (not in the package) so tests/pipelines/filters/test_gopher_equivalence.py can compare
pipelines.filters.gopher against it value by value; same code as before the numba kernels.
"""
from __future__ import annotations

import re
import string
from collections import Counter

from pipelines.document import Document
from pipelines.filters.gopher import _BULLETS, _ELLIPSES, _PUNCT, TextFilterConfig

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def quality_values(text: str) -> dict:
    """Every quantity gopher_quality compares, computed the reference way."""
    words = text.split()
    content = [w for w in words if any(ch not in _PUNCT for ch in w)]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return {"words": len(words), "content": len(content), "content_chars": sum(len(w) for w in content),
            "alpha_words": sum(any(ch.isalpha() for ch in w) for w in words),
            "longest": max((len(w) for w in words), default=0), "lines": len(lines),
            "bullet_lines": sum(line.startswith(_BULLETS) for line in lines),
            "ellipsis_lines": sum(line.endswith(_ELLIPSES) for line in lines),
            "symbols": text.count("#") + sum(text.count(e) for e in _ELLIPSES)}


def repetition_values(text: str, top_n: tuple[int, ...], dup_n: tuple[int, ...]) -> list[int]:
    """[paragraphs, repeats, chars, lines, repeats, chars, top n-gram chars per n, dup n-gram chars per n]."""
    paragraphs = _PARAGRAPHS.split(text.strip())
    lines = _LINES.split(text)
    words = text.split()
    return [len(paragraphs), *_duplicates(paragraphs), len(lines), *_duplicates(lines),
            *(_top_ngram_chars(words, n) for n in top_n), *(_dup_ngram_chars(words, n) for n in dup_n)]


def stop_words_found(text: str, stop_words: tuple[str, ...]) -> set[str]:
    return set(stop_words).intersection(w.lower().strip(string.punctuation) for w in text.split())


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
