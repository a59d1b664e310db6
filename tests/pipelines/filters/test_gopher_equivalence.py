"""The compiled Gopher rules equal the plain-Python reference, value by value and reason by reason.

Reference: tests/pipelines/filters/gopher_reference.py (the rules as first written). Inputs: the
SlimPajama sample (data/sample/slimpajama), texts built to hit every rule, and random texts
(hypothesis) over an alphabet of the characters where Python's definitions are subtle: Unicode
whitespace and line breaks (\\x1c-\\x1f, \\x85, \\u2028, \\u3000, CRLF), Gopher punctuation, bullets,
ellipses, final sigma, letters outside the BMP, digits and lone surrogates.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import random

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings, strategies as st

from pipelines.document import Document
from pipelines.filters import char_tables, gopher, gopher_repetition_jit
from pipelines.filters.gopher import LIGHT, TextFilterConfig
from tests.pipelines.filters import gopher_reference as ref

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ALL_N = tuple(range(1, 11))
# Thresholds low enough that every rule fires on some sample documents.
TIGHT = TextFilterConfig(min_words=20, max_words=800, min_mean_word_length=4.2, max_mean_word_length=6.0,
                         max_symbol_word_ratio=0.01, max_bullet_lines_ratio=0.1, max_ellipsis_lines_ratio=0.05,
                         min_alpha_words_ratio=0.9, min_stop_words=6,
                         max_dup_line_fraction=0.05, max_dup_para_fraction=0.05, max_dup_line_char_fraction=0.03,
                         max_dup_para_char_fraction=0.03,
                         top_ngram_char_fractions=((2, 0.02), (3, 0.015), (4, 0.01), (1, 0.05)),
                         dup_ngram_char_fractions=((5, 0.02), (6, 0.02), (7, 0.01), (8, 0.01), (9, 0.005), (10, 0.0)))
CONFIGS = (TextFilterConfig(), LIGHT, TIGHT)
STOP_WORD_SETS = (TextFilterConfig().stop_words,
                  ("the", "a", "'tis", "", "the", "ΣΑΣ", "σας", "k", "i\u0307", "The", "x y", "a\x00"),
                  ("the", "a", "'tis", "", "k", "The", "x y", ".", "of."))


def sample_texts(limit: int | None = None) -> list[str]:
    """Every `text` in the sample's SlimPajama and math files (corrupt lines skipped: they test readers)."""
    texts = []
    for path in sorted(glob.glob(os.path.join(REPO, "data/sample/slimpajama/*.jsonl.zst"))) + \
            sorted(glob.glob(os.path.join(REPO, "data/sample/math/*.jsonl"))):
        with open(path, "rb") as f:
            raw = f.read()
        if path.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        for line in raw.split(b"\n"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                texts.append(record["text"])
    assert len(texts) > 2000, "sample missing"
    random.Random(0).shuffle(texts)
    return texts[:limit]


def assert_equal_values(text: str) -> None:
    cp = char_tables.codepoints(text)
    assert cp.size == len(text)
    fields = ("words", "content", "content_chars", "alpha_words", "longest", "lines", "bullet_lines",
              "ellipsis_lines", "symbols")
    assert dict(zip(fields, gopher._quality_counts(text, ()))) == ref.quality_values(text)
    for stop in STOP_WORD_SETS:
        mask = gopher._quality_counts(text, stop)[9]
        assert gopher._stop_words_found(text, stop, mask) == ref.stop_words_found(text, stop), stop
    ns = np.array(ALL_N, np.int64)
    limits = np.full(4 + 2 * len(ALL_N), np.inf)
    size = max(len(text), 1)
    got = gopher_repetition_jit.repetition_counts(cp, gopher._tables().classes, gopher._powers(size + 1), ns, ns, limits,
                                       size).tolist()
    assert got == ref.repetition_values(text, ALL_N, ALL_N)


def assert_equal_reasons(text: str) -> None:
    d = Document("id", "text", text)
    for cfg in CONFIGS:
        assert gopher.gopher_quality(d, cfg) == ref.gopher_quality(d, cfg)
        assert gopher.gopher_repetition(d, cfg) == ref.gopher_repetition(d, cfg)


def assert_classes_are_pythons(code_points) -> None:
    """Class bits and ASCII lowercase per code point equal str.isspace/isalpha/splitlines/lower."""
    cls, lower = gopher._tables().classes, gopher._tables().lower
    assert cls.shape == lower.shape == (0x110000,)
    for cp in code_points:
        ch = chr(cp)
        k = int(cls[cp])
        assert bool(k & char_tables.SPACE) == ch.isspace(), hex(cp)
        assert bool(k & char_tables.ALPHA) == ch.isalpha(), hex(cp)
        low = ch.lower()
        assert lower[cp] == (ord(low) if len(low) == 1 and low.isascii() and cp else 0), hex(cp)
        assert bool(k & char_tables.BREAK) == (len(f"a{ch}b".splitlines()) == 2), hex(cp)
        assert bool(k & char_tables.PUNCT) == (ch in gopher._PUNCT), hex(cp)
        assert bool(k & char_tables.BULLET) == (ch in gopher._BULLETS), hex(cp)


def test_char_classes_are_pythons():
    """The BMP's first 0x3000 code points, every 101st above, and every code point that changes in lower()."""
    cased = np.nonzero(np.strings.lower(np.arange(0x110000, dtype=np.uint32).view("<U1"))
                       != np.arange(0x110000, dtype=np.uint32).view("<U1"))[0].tolist()
    assert_classes_are_pythons(sorted(set(range(0x3000)) | set(range(0x3000, 0x110000, 101)) | set(cased)))


@pytest.mark.slow
def test_char_classes_are_pythons_everywhere():
    assert_classes_are_pythons(range(0x110000))


def test_codepoints_keep_surrogates_and_astral():
    text = "a\ud800b\U0001F600\udc00"
    assert char_tables.codepoints(text).tolist() == [ord(c) for c in text]


def test_mulmod_and_prefix_hash_match_integers():
    mod = (1 << 61) - 1
    rng = random.Random(1)
    pairs = [(0, 0), (mod - 1, mod - 1), (1, mod - 1), ((1 << 60) + 12345, (1 << 61) - 2)] + \
        [(rng.randrange(mod), rng.randrange(mod)) for _ in range(300)]
    for a, b in pairs:
        assert gopher_repetition_jit._mulmod(a, b) == a * b % mod
    seq = np.array([rng.randrange(1 << 32) for _ in range(300)] + [(1 << 32) - 1] * 5, np.uint32)
    prefix = gopher_repetition_jit._prefix(seq, seq.size)
    pow_ = gopher_repetition_jit.powers(seq.size + 1)
    base, h = gopher_repetition_jit._BASE, 0
    for k, x in enumerate(seq.tolist()):
        h = (h * base + x + 1) % mod
        assert prefix[k + 1] == h and pow_[k + 1] == pow(base, k + 1, mod)


CRAFTED = [
    "",
    "   \n\n  ",
    "one",
    "ab c ab c ab c",                      # "".join 2-grams: "abc" "cab" "abc": repeats
    "a bc ab c a bc ab c x y z",           # same concatenations, different words
    "the cat\r\nthe cat\r\n\r\nthe cat\x1cthe cat\x1fdog\x85dog\u2028dog\u2029dog",
    "• item\n  - item ...\n* item …\n· item\n‣\n...\n..\n…",
    "ΟΔΟΣ ΣΑΣ σας Σ. the The THE, 'the' «to» K\u212a \u0130stanbul",
    "word\u00a0word\u3000word\u2000word\u200bword \U0001F600 \U00010400\U00010428 \ud800 x\udc00y",
    "### ... …… #hash ... the and of to",
    " ".join(["click here"] * 30) + " then the end",
    " ".join(f"w{i % 7} w{i % 5}" for i in range(400)),
    "x" * 1500 + " " + "é" * 1200 + "\n" + "y " * 10,
]


@pytest.mark.parametrize("text", CRAFTED)
def test_crafted_texts_equal_reference(text):
    assert_equal_values(text)
    assert_equal_reasons(text)


def test_sample_documents_equal_reference():
    """80 documents of the sample, every value and every reason under three configs."""
    for text in sample_texts(80):
        assert_equal_values(text)
        assert_equal_reasons(text)


@pytest.mark.slow
def test_whole_sample_equals_reference():
    texts = sample_texts()
    for text in texts:
        assert_equal_values(text)
        assert_equal_reasons(text)
    reasons = {gopher.gopher_quality(Document("i", "text", t), TIGHT) for t in texts} | \
        {gopher.gopher_repetition(Document("i", "text", t), TIGHT) for t in texts}
    fired = {r.split(":")[0] for r in reasons if r}
    assert {"too_few_words", "too_many_words", "mean_word_length", "symbol_word_ratio", "stop_words",
            "dup_line_fraction", "top_2gram_char_fraction"} <= fired, fired


ALPHABET = list("abcσΣΑ. ,'#-*•…\n\r\t") + ["\x1c", "\x1f", "\x85", "\u2028", "\u3000", "\u00a0", "\u212a",
                                               "\U0001F600", "\U00010400", "\ud800", "7", "½", "\u0130"]
WORDS = ["the", "a", "ab", "b", "c", "bc", "of", "Σ", "and.", "--", "…", "#", "x1"]
SEPARATORS = [" ", "  ", "\n", "\n\n", "\t", "\u3000", "\r\n", " - ", "\n• ", "... "]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=300))
def test_random_characters_equal_reference(text):
    assert_equal_values(text)
    assert_equal_reasons(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=250))
def test_random_word_sequences_equal_reference(parts):
    """Few distinct words: repeated n-grams, ties between top n-grams, "".join collisions."""
    text = "".join(w + s for w, s in parts)
    assert_equal_values(text)
    assert_equal_reasons(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_random_unicode_equal_reference(text):
    assert_equal_values(text)
    assert_equal_reasons(text)


def test_light_preset_skips_the_kernel_without_ngram_rules():
    """LIGHT has no n-gram rules: repetition decides on paragraphs and lines alone, as before."""
    d = Document("i", "text", "same line\nsame line\nsame line")
    assert gopher.gopher_repetition(d, LIGHT) is None
    cfg = dataclasses.replace(LIGHT, max_dup_line_fraction=0.3)
    assert gopher.gopher_repetition(d, cfg) == ref.gopher_repetition(d, cfg)
