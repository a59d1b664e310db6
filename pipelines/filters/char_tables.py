"""Per-code-point tables for the compiled text rules: a text as its code points, each with class bits.

The kernels (pipelines/filters/gopher_quality_jit.py, gopher_repetition_jit.py) read a text as UTF-32
code points and look each up here, so Python's own definitions hold without calling into Python:
whitespace as `str.split` sees it, letters as `str.isalpha` (numpy's str predicates are CPython's),
`str.splitlines` breaks, Gopher punctuation and bullets, and the one-character ASCII lowercase the
stop-word rule needs. Tables are built once per process (~0.1 s); tests compare every code point.
"""
from __future__ import annotations

import functools
import string

import numpy as np

SPACE, ALPHA, PUNCT, BREAK, BULLET = 1, 2, 4, 8, 16
# str.splitlines() breaks (all of them are also str.isspace(); \x1f is space, not a break).
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


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
