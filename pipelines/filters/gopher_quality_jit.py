"""Compiled counts for the Gopher quality rules (numba): one pass over a text's code points.

Why: in Python the rules cost ~1.5 ms per 4 KB document (a generator per word for punctuation,
letters, lowercase + strip for stop words); here ~30 us. `pipelines.filters.gopher.gopher_quality`
turns the counts into the same decisions and reasons (tests compare with the plain-Python rules).
Input: `char_tables.codepoints(text)` and the tables of pipelines/filters/char_tables.py.
Compiled code is cached next to this file (or in numba's user cache).
"""
from __future__ import annotations

import numba
import numpy as np

from pipelines.filters.char_tables import ALPHA, BREAK, BULLET, PUNCT, SPACE

_DOT = 46
_HASH = 35
_ELLIPSIS = 0x2026


@numba.njit(cache=True)
def quality_counts(cp, cls, lower, punct, stop, stop_off):
    """int64 [10] for gopher_quality and c4_rules:
      0 words (str.split), 1 words with a non-punctuation char, 2 their chars, 3 words with a letter,
      4 longest word's chars, 5 non-blank stripped lines (str.splitlines), 6 of those starting with a
      bullet, 7 ending in an ellipsis, 8 '#' + '...' (non-overlapping) + '…' occurrences,
      9 bit k set when stop word k equals some word lowercased and stripped of string.punctuation.
    Stop words are ASCII; a word takes part when each character lowercases to one ASCII character.
    """
    words = content_words = content_chars = alpha_words = longest = 0
    lines = bullets = ellipses = symbols = found = 0
    stop_min = 1 << 30
    stop_max = 0
    for s in range(stop_off.size - 1):
        stop_min = min(stop_min, stop_off[s + 1] - stop_off[s])
        stop_max = max(stop_max, stop_off[s + 1] - stop_off[s])
    in_word = False
    wlen = wstart = dots = 0
    content = alpha = False
    ascii_ok = True
    first = last = -1
    n = cp.size
    for i in range(n + 1):
        c = cp[i] if i < n else 32      # a space after the end closes the last word
        k = cls[c]
        if c == _DOT:
            dots += 1
            continue_dots = True
        else:
            continue_dots = False
        if not continue_dots:
            if dots:
                symbols += dots // 3
                dots = 0
            if c == _HASH or c == _ELLIPSIS:
                symbols += 1
        if k & SPACE:
            if in_word:
                in_word = False
                words += 1
                if content:
                    content_words += 1
                    content_chars += wlen
                if alpha:
                    alpha_words += 1
                if wlen > longest:
                    longest = wlen
                if ascii_ok and wlen >= stop_min:
                    found |= _stop_bits(cp, lower, punct, stop, stop_off, stop_min, stop_max, wstart, i)
            if (k & BREAK or i == n) and first >= 0:
                lines += 1
                if cls[cp[first]] & BULLET:
                    bullets += 1
                if cp[last] == _ELLIPSIS or (last - first >= 2 and cp[last] == _DOT and cp[last - 1] == _DOT
                                             and cp[last - 2] == _DOT):
                    ellipses += 1
                first = -1
        else:
            if not in_word:
                in_word = True
                wstart = i
                wlen = 0
                content = False
                alpha = False
                ascii_ok = True
            wlen += 1
            if not k & PUNCT:
                content = True
            if k & ALPHA:
                alpha = True
            if lower[c] == 0:
                ascii_ok = False
            if first < 0:
                first = i
            last = i
    out = np.empty(10, np.int64)
    out[0] = words
    out[1] = content_words
    out[2] = content_chars
    out[3] = alpha_words
    out[4] = longest
    out[5] = lines
    out[6] = bullets
    out[7] = ellipses
    out[8] = symbols
    out[9] = found
    return out


@numba.njit(inline="always")
def _stop_bits(cp, lower, punct, stop, stop_off, stop_min, stop_max, start, end):
    """Bit k set when stop word k equals cp[start:end] lowercased and stripped of punctuation."""
    while start < end and punct[lower[cp[start]]]:
        start += 1
    while end > start and punct[lower[cp[end - 1]]]:
        end -= 1
    n = end - start
    bits = 0
    if n < stop_min or n > stop_max:
        return bits
    for s in range(stop_off.size - 1):
        lo = stop_off[s]
        if stop_off[s + 1] - lo != n:
            continue
        same = True
        for j in range(n):
            if lower[cp[start + j]] != stop[lo + j]:
                same = False
                break
        if same:
            bits |= 1 << s
    return bits
