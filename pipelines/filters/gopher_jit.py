"""Compiled counting for the Gopher rules (numba): one pass over the text's code points per rule set.

Why: the rules are loops over words, lines and word n-grams; in Python they cost ~5 ms per
4 KB document (a Counter of joined strings per n-gram size), ~10x the rest of a curate
subset. Here the text is its code points (`codepoints`, UTF-32), each code point has a class
byte (`char_classes`: whitespace as `str.split` sees it, letters as `str.isalpha`, Gopher
punctuation, `str.splitlines` line breaks, bullet starts) and an ASCII lowercase (`ascii_lower`),
and two kernels count what the rules need; `pipelines.filters.gopher` turns the counts into
the same decisions and reasons as the plain-Python rules (tests compare them value by value).

Equal strings are found by polynomial hashes mod 2^61-1: spans of the text (lines, paragraphs,
words) from one prefix hash, Gopher's "".join n-grams from the words' hashes (so "ab"+"c"
equals "a"+"bc"), space-joined n-grams over word ids (equal iff the words are). Every hash
match is confirmed element by element, so a collision costs time, never a wrong count.
Compiled code is cached next to this file (or in numba's user cache).
"""
from __future__ import annotations

import functools
import string

import numba
import numpy as np

SPACE, ALPHA, PUNCT, BREAK, BULLET = 1, 2, 4, 8, 16
# str.splitlines() breaks (all of them are also str.isspace(); \x1f is space, not a break).
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_MOD = (1 << 61) - 1
_BASE = 0x5BD1E995          # < 2^31: the per-character step needs two multiplies, not four
_EMPTY = -1
_NEWLINE = 10
_DOT = 46
_HASH = 35
_ELLIPSIS = 0x2026


@functools.lru_cache(maxsize=4)
def char_classes(punct: frozenset[str], bullets: tuple[str, ...]) -> np.ndarray:
    """uint8 [0x110000]: class bits per code point (numpy's str predicates are CPython's)."""
    chars = np.arange(0x110000, dtype=np.uint32).view("<U1")   # code point 0 reads as "": no class
    cls = np.strings.isspace(chars).astype(np.uint8) * np.uint8(SPACE)
    cls |= np.strings.isalpha(chars).astype(np.uint8) * np.uint8(ALPHA)
    for group, bit in ((punct, PUNCT), (LINE_BREAKS, BREAK), (bullets, BULLET)):
        for ch in group:
            if len(ch) != 1:
                raise ValueError(f"class {bit}: {ch!r} is not one character")
            cls[ord(ch)] |= bit
    cls.flags.writeable = False
    return cls


@functools.lru_cache(maxsize=1)
def ascii_lower() -> np.ndarray:
    """uint8 [0x110000]: chr(c).lower() when that is one ASCII character (e.g. KELVIN SIGN -> 'k'), else 0.

    Outside ASCII only upper- and titlecase characters lowercase to something else (tests check
    every code point), so only those ~2,000 are asked.
    """
    chars = np.arange(0x110000, dtype=np.uint32).view("<U1")
    cased = np.nonzero(np.strings.isupper(chars) | np.strings.istitle(chars))[0]
    table = np.zeros(0x110000, np.uint8)
    for c in range(1, 128):
        table[c] = ord(chr(c).lower())
    for c in cased[cased >= 128].tolist():
        low = chr(c).lower()
        if len(low) == 1 and low.isascii():
            table[c] = ord(low)
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=8)
def stop_word_table(stop_words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """(uint8 bytes, int64 offsets) of the stop words for `quality_counts`; None (Python decides)
    if one is not ASCII or holds NUL (0 marks "no ASCII lowercase"), or there are more than 63
    (found words come back as bits of an int64)."""
    if len(stop_words) > 63 or not all(s.isascii() and "\x00" not in s for s in stop_words):
        return None
    data = np.frombuffer("".join(stop_words).encode("ascii"), dtype=np.uint8).copy()
    offsets = np.zeros(len(stop_words) + 1, np.int64)
    np.cumsum([len(s) for s in stop_words], out=offsets[1:])
    return data, offsets


def ascii_punctuation() -> np.ndarray:
    """bool [128]: string.punctuation, the characters `str.strip` removes from stop-word candidates."""
    table = np.zeros(128, np.bool_)
    table[[ord(c) for c in string.punctuation]] = True
    return table


def codepoints(text: str) -> np.ndarray:
    """uint32 code points, one per character of `text` (lone surrogates kept as themselves)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


# ---------------------------------------------------------------- quality

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


# ---------------------------------------------------------------- hashing

@numba.njit(inline="always")
def _fold(r):
    mod = (1 << 61) - 1
    r = (r & mod) + (r >> 61)
    return r - mod if r >= mod else r


@numba.njit(inline="always")
def _mulmod(a, b):
    """a * b mod 2^61-1 for 0 <= a, b < 2^61, in int64 without overflow."""
    mod = (1 << 61) - 1
    a_hi = a >> 31
    a_lo = a & 0x7FFFFFFF
    b_hi = b >> 31
    b_lo = b & 0x7FFFFFFF
    mid = a_lo * b_hi + a_hi * b_lo
    low = a_lo * b_lo
    low = (low & mod) + (low >> 61)
    r = ((a_hi * b_hi) << 1) + (mid >> 30) + ((mid & 0x3FFFFFFF) << 31) + low
    r = (r & mod) + (r >> 61)
    return _fold(r)


@numba.njit(inline="always")
def _step(h, x):
    """h * BASE + x + 1 mod 2^61-1, for h < 2^61, BASE < 2^31, x < 2^32."""
    hi = h >> 32                                  # < 2^29
    lo = h & 0xFFFFFFFF
    top = hi * 0x5BD1E995                         # < 2^60, stands for top * 2^32
    r = lo * 0x5BD1E995 + (top >> 29) + ((top & 0x1FFFFFFF) << 32) + x + 1
    return _fold(r)


@numba.njit(cache=True)
def powers(size):
    """int64 [size]: BASE^k mod 2^61-1."""
    pow_ = np.empty(size, np.int64)
    pow_[0] = 1
    for k in range(1, size):
        pow_[k] = _step(pow_[k - 1], -1)
    return pow_


@numba.njit(inline="always")
def _span(prefix, pow_, lo, hi):
    h = prefix[hi] - _mulmod(prefix[lo], pow_[hi - lo])
    return h + ((1 << 61) - 1) if h < 0 else h


@numba.njit(inline="always")
def _slot(h, mask):
    return ((h ^ (h >> 29)) * 0x2545F4914F6CDD1D >> 17) & mask


@numba.njit(inline="always")
def _same(seq, a, b, n):
    for j in range(n):
        if seq[a + j] != seq[b + j]:
            return False
    return True


@numba.njit(cache=True)
def _prefix(seq, size):
    prefix = np.empty(size + 1, np.int64)
    prefix[0] = 0
    h = 0
    for k in range(size):
        h = _step(h, np.int64(seq[k]))
        prefix[k + 1] = h
    return prefix


@numba.njit(cache=True)
def _span_duplicates(cp, prefix, pow_, lo_I, hi_I, count, table_hash, table_at, mask):
    """(repeated spans, their characters): spans cp[lo_I[i]:hi_I[i]], first occurrence not counted."""
    table_at[:] = _EMPTY
    n_dup = 0
    chars = 0
    for i in range(count):
        lo = lo_I[i]
        n = hi_I[i] - lo
        h = _span(prefix, pow_, lo, lo + n)
        s = _slot(h, mask)
        while True:
            at = table_at[s]
            if at == _EMPTY:
                table_at[s] = i
                table_hash[s] = h
                break
            if table_hash[s] == h and hi_I[at] - lo_I[at] == n and _same(cp, lo_I[at], lo, n):
                n_dup += 1
                chars += n
                break
            s = (s + 1) & mask
    return n_dup, chars


# ---------------------------------------------------------------- repetition

@numba.njit(cache=True)
def repetition_counts(cp, cls, pow_, top_n, dup_n, limits, size):
    """Gopher repetition counts in rule order, stopping after the first rule over its limit.

    int64 [6 + len(top_n) + len(dup_n)], -1 where not computed:
      0-2 paragraphs (text.strip() split at runs of >= 2 '\\n'): count, repeats, repeated chars;
      3-5 lines (text split at runs of '\\n'): the same;
      then per top n: chars of the most frequent space-joined word n-gram x its count (0 unless it
      repeats; ties go to the n-gram seen first, as Counter.most_common); per dup n: chars of
      "".join word n-grams seen before, scanning left to right and jumping past a repeat.
    limits: float64 [4 + len(top_n) + len(dup_n)]: paragraph share, paragraph chars, line share,
    line chars, then one per n-gram rule; a rule fails when value / total > limit, as in Python.
    pow_ holds BASE^k for k <= len(cp).
    """
    n_chars = cp.size
    out = np.full(6 + top_n.size + dup_n.size, -1, np.int64)
    prefix = _prefix(cp, n_chars)
    # Runs of '\n' give both splits; words are the str.split() tokens.
    run_lo = np.empty(n_chars // 2 + 2, np.int64)
    run_hi = np.empty(n_chars // 2 + 2, np.int64)
    w_lo = np.empty(n_chars // 2 + 1, np.int64)
    w_hi = np.empty(n_chars // 2 + 1, np.int64)
    runs = 0
    nw = 0
    in_run = False
    in_word = False
    lo_strip = -1
    hi_strip = 0
    for i in range(n_chars):
        c = cp[i]
        if c == _NEWLINE:
            if not in_run:
                run_lo[runs] = i
                in_run = True
        elif in_run:
            run_hi[runs] = i
            runs += 1
            in_run = False
        if cls[c] & SPACE:
            if in_word:
                w_hi[nw] = i
                nw += 1
                in_word = False
        else:
            if not in_word:
                w_lo[nw] = i
                in_word = True
            if lo_strip < 0:
                lo_strip = i
            hi_strip = i + 1
    if in_run:
        run_hi[runs] = n_chars
        runs += 1
    if in_word:
        w_hi[nw] = n_chars
        nw += 1
    cap = 4
    while cap < 2 * max(runs + 1, nw) + 2:
        cap *= 2
    mask = cap - 1
    table_hash = np.empty(cap, np.int64)
    table_at = np.empty(cap, np.int64)
    table_count = np.empty(cap, np.int64)
    item_lo = np.empty(runs + 1, np.int64)
    item_hi = np.empty(runs + 1, np.int64)
    # Paragraphs of the stripped text: split at runs of two or more newlines inside it.
    if lo_strip < 0:
        lo_strip = 0
    items = 0
    start = lo_strip
    for r in range(runs):
        if run_hi[r] - run_lo[r] >= 2 and run_lo[r] >= lo_strip and run_hi[r] <= hi_strip:
            item_lo[items] = start
            item_hi[items] = run_lo[r]
            items += 1
            start = run_hi[r]
    item_lo[items] = start
    item_hi[items] = hi_strip
    items += 1
    n_dup, chars = _span_duplicates(cp, prefix, pow_, item_lo, item_hi, items, table_hash, table_at, mask)
    out[0] = items
    out[1] = n_dup
    out[2] = chars
    if n_dup / items > limits[0] or chars / size > limits[1]:
        return out
    # Lines: split at every run of newlines (an empty first/last item when the text starts/ends with one).
    start = 0
    for r in range(runs):
        item_lo[r] = start
        item_hi[r] = run_lo[r]
        start = run_hi[r]
    item_lo[runs] = start
    item_hi[runs] = n_chars
    n_dup, chars = _span_duplicates(cp, prefix, pow_, item_lo, item_hi, runs + 1, table_hash, table_at, mask)
    out[3] = runs + 1
    out[4] = n_dup
    out[5] = chars
    if n_dup / (runs + 1) > limits[2] or chars / size > limits[3]:
        return out
    if top_n.size + dup_n.size == 0:
        return out
    # Words: ids (equal words, equal id) and the concatenation's prefix hash at word boundaries.
    off = np.empty(nw + 1, np.int64)
    cat_prefix = np.empty(nw + 1, np.int64)
    ids = np.empty(nw, np.int64)
    off[0] = 0
    cat_prefix[0] = 0
    table_at[:] = _EMPTY
    for w in range(nw):
        lo = w_lo[w]
        n = w_hi[w] - lo
        off[w + 1] = off[w] + n
        h = _span(prefix, pow_, lo, lo + n)
        cat_prefix[w + 1] = _fold(_mulmod(cat_prefix[w], pow_[n]) + h)
        s = _slot(h, mask)
        while True:
            at = table_at[s]
            if at == _EMPTY:
                table_at[s] = w
                table_hash[s] = h
                ids[w] = w
                break
            if table_hash[s] == h and w_hi[at] - w_lo[at] == n and _same(cp, w_lo[at], lo, n):
                ids[w] = at
                break
            s = (s + 1) & mask
    id_prefix = _prefix(ids, nw)
    base = 6
    for r in range(top_n.size):
        n = top_n[r]
        best_count = 0
        best_at = 0
        if nw >= n:
            table_at[:] = _EMPTY
            for i in range(nw - n + 1):
                h = _span(id_prefix, pow_, i, i + n)
                s = _slot(h, mask)
                c = 0
                while True:
                    at = table_at[s]
                    if at == _EMPTY:
                        table_at[s] = i
                        table_hash[s] = h
                        table_count[s] = 1
                        c = 1
                        at = i
                        break
                    if table_hash[s] == h and _same(ids, at, i, n):
                        table_count[s] += 1
                        c = table_count[s]
                        break
                    s = (s + 1) & mask
                if c > best_count or (c == best_count and at < best_at):
                    best_count = c
                    best_at = at
        value = 0
        if best_count > 1:
            value = (off[best_at + n] - off[best_at] + n - 1) * best_count
        out[base + r] = value
        if value / size > limits[4 + r]:
            return out
    base += top_n.size
    cat = np.empty(off[nw], np.uint32)
    for w in range(nw):
        cat[off[w]:off[w + 1]] = cp[w_lo[w]:w_hi[w]]
    for r in range(dup_n.size):
        n = dup_n[r]
        chars = 0
        table_at[:] = _EMPTY
        i = 0
        while i < nw - n + 1:
            lo = off[i]
            length = off[i + n] - lo
            h = cat_prefix[i + n] - _mulmod(cat_prefix[i], pow_[length])
            if h < 0:
                h += (1 << 61) - 1
            s = _slot(h, mask)
            seen = False
            while True:
                at = table_at[s]
                if at == _EMPTY:
                    table_at[s] = i
                    table_hash[s] = h
                    break
                if table_hash[s] == h and off[at + n] - off[at] == length and _same(cat, off[at], lo, length):
                    seen = True
                    break
                s = (s + 1) & mask
            if seen:
                chars += length
                i += n
            else:
                i += 1
        out[base + r] = chars
        if chars / size > limits[4 + top_n.size + r]:
            return out
    return out
