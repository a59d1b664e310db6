"""Compiled MinHash kernel (numba): n-gram MurmurHash3 + affine64 permutations + min in one loop.

Why: in numpy the per-element uint64 multiply-add-min over [shingles x 256 permutations] costs
~1.1 ns (numpy has no vectorised 64-bit multiply) and the per-shingle n-gram join + mmh3 call
~0.25 us, together ~0.35 ms per 600-shingle document. One fused loop compiled by LLVM for the
host CPU does both without temporaries. Bit-for-bit equal to `pipelines.dedup.minhash`'s numpy path
(and so to datasketch affine64); tests compare all three.

Input is what `pipelines.dedup.minhash` builds in Python so tokenisation stays Python's:
each document as `" ".join(text.lower().split())` UTF-8 bytes, concatenated. A word never
contains byte 0x20 (UTF-8 keeps it out of multibyte characters and str.split() out of words),
so splitting on 0x20 here gives exactly the words Python split.

Importing this module needs numba; `pipelines.dedup.minhash` imports it lazily and falls back to
numpy without it. Compiled code is cached next to this file (or numba's user cache).
"""
from __future__ import annotations

import numba
import numpy as np

_C1 = np.uint64(0x87C37B91114253D5)
_C2 = np.uint64(0x4CF5AD432745937F)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_N1 = np.uint64(0x52DCE729)
_N2 = np.uint64(0x38495AB5)
_FIVE = np.uint64(5)
_S33 = np.uint64(33)


@numba.njit(inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@numba.njit(inline="always")
def _fmix(k):
    k ^= k >> _S33
    k *= _M1
    k ^= k >> _S33
    k *= _M2
    k ^= k >> _S33
    return k


@numba.njit(inline="always")
def _word(data, i, n):
    """Little-endian uint64 of data[i:i+n] (n <= 8)."""
    k = np.uint64(0)
    for j in range(n):
        k |= np.uint64(data[i + j]) << np.uint64(8 * j)
    return k


@numba.njit(cache=True)
def mmh3_x64_128_low(data, start, end):
    """First 64-bit word of MurmurHash3_x64_128(data[start:end], seed=0) (= mmh3.hash64(...)[0])."""
    length = end - start
    h1 = np.uint64(0)
    h2 = np.uint64(0)
    i = start
    for _ in range(length // 16):
        k1 = _word(data, i, 8)
        k2 = _word(data, i + 8, 8)
        i += 16
        k1 *= _C1
        k1 = _rotl(k1, 31)
        k1 *= _C2
        h1 ^= k1
        h1 = _rotl(h1, 27)
        h1 += h2
        h1 = h1 * _FIVE + _N1
        k2 *= _C2
        k2 = _rotl(k2, 33)
        k2 *= _C1
        h2 ^= k2
        h2 = _rotl(h2, 31)
        h2 += h1
        h2 = h2 * _FIVE + _N2
    rem = end - i
    if rem > 8:
        k2 = _word(data, i + 8, rem - 8)
        k2 *= _C2
        k2 = _rotl(k2, 33)
        k2 *= _C1
        h2 ^= k2
    if rem > 0:
        k1 = _word(data, i, min(rem, 8))
        k1 *= _C1
        k1 = _rotl(k1, 31)
        k1 *= _C2
        h1 ^= k1
    h1 ^= np.uint64(length)
    h2 ^= np.uint64(length)
    h1 += h2
    h2 += h1
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    return h1 + h2


@numba.njit(cache=True)
def signatures_into(data, doc_starts, ngram, a_P, b_P, sig_DxP):
    """sig_DxP[d] = min over word n-grams g of document d of a_P * fmix64(mmh3(g)) + b_P (mod 2^64).

    data: uint8, documents' normalised bytes back to back; doc_starts: int64 [D + 1] offsets.
    A document with fewer than `ngram` words is one shingle; an empty one keeps its row.
    """
    num_perm = a_P.size
    space = np.uint8(32)
    word_starts = np.empty(data.size + 1, dtype=np.int64)
    for d in range(doc_starts.size - 1):
        lo = doc_starts[d]
        hi = doc_starts[d + 1]
        if hi == lo:
            continue
        n_words = 0
        word_starts[0] = lo
        for i in range(lo, hi):
            if data[i] == space:
                n_words += 1
                word_starts[n_words] = i + 1
        n_words += 1
        word_starts[n_words] = hi + 1          # as if a space followed the last word
        n_grams = max(1, n_words - ngram + 1)
        row = sig_DxP[d]
        for g in range(n_grams):
            last = min(g + ngram, n_words)
            h = _fmix(mmh3_x64_128_low(data, word_starts[g], word_starts[last] - 1))
            for k in range(num_perm):
                v = h * a_P[k] + b_P[k]
                row[k] = min(row[k], v)
