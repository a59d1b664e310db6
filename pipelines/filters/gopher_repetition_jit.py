"""Compiled counts for the Gopher repetition rules (numba): duplicate lines, paragraphs and word n-grams.

Why: in Python the rules cost ~4 ms per 4 KB document (a Counter of joined strings per n-gram size);
here ~0.1 ms. `pipelines.filters.gopher.gopher_repetition` turns the counts into the same decisions
and reasons (tests compare with the plain-Python rules value by value).

Equal strings are found by polynomial hashes mod 2^61-1: spans of the text (lines, paragraphs, words)
from one prefix hash, Gopher's "".join n-grams from the words' hashes (so "ab"+"c" equals "a"+"bc"),
space-joined n-grams over word ids (equal iff the words are). Every hash match is confirmed element
by element, so a collision costs time, never a wrong count. The hashing helpers live in this file
because numba's cache only notices edits to the file of the function it caches.
"""
from __future__ import annotations

import numba
import numpy as np

from pipelines.filters.char_tables import SPACE

_MOD = (1 << 61) - 1
_BASE = 0x5BD1E995          # < 2^31: the per-character step needs two multiplies, not four
_EMPTY = -1
_NEWLINE = 10


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
