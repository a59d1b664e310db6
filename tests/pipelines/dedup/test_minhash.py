"""MinHash signatures agree with datasketch; LSH parameters match its optimiser."""
import datasketch
import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from pipelines.dedup import minhash


def _words(rng, n, vocab=5000):
    return " ".join(f"w{int(i)}" for i in rng.integers(0, vocab, n))


@pytest.mark.parametrize("num_perm,seed", [(256, 1), (64, 7)])
def test_signature_equals_datasketch(num_perm, seed):
    rng = np.random.default_rng(0)
    cfg = minhash.MinHashConfig(num_perm=num_perm, seed=seed)
    for text in [_words(rng, 40), _words(rng, 3), "Hello   World\n\tagain " * 20, _words(rng, 9000)]:
        ref = datasketch.MinHash(num_perm=num_perm, seed=seed, hashfunc=minhash.shingle_hash, scheme="affine64")
        ref.update_batch(minhash.shingles(text, cfg.ngram))
        sig = minhash.signature(text, cfg)
        assert sig.dtype == np.uint64 and sig.shape == (num_perm,)
        np.testing.assert_array_equal(sig, ref.hashvalues)
    a_P, b_P = minhash.permutations(num_perm, seed)
    np.testing.assert_array_equal(a_P, ref.permutations[0])
    np.testing.assert_array_equal(b_P, ref.permutations[1])


@pytest.mark.parametrize("threshold,num_perm", [(0.7, 256), (0.5, 128), (0.85, 128), (0.9, 64)])
def test_band_rows_match_datasketch_optimiser(threshold, num_perm):
    assert minhash.optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_tokenisation_ignores_case_and_layout():
    a = "def f(x):\n    return x + 1  # Add one to the input"
    b = "DEF f(x): return x + 1 # add ONE to the input"
    assert minhash.shingles(a) == minhash.shingles(b)
    np.testing.assert_array_equal(minhash.signature(a), minhash.signature(b))
    assert minhash.shingles("one two") == [b"one two"]
    assert minhash.shingles("  \n ") == []
    assert not minhash.has_shingles(minhash.signature(""))


def test_estimate_tracks_exact_jaccard():
    rng = np.random.default_rng(1)
    base = _words(rng, 400).split()
    for keep in (100, 200, 300, 380):
        other = " ".join(base[:keep] + _words(rng, 400 - keep).split())
        true = minhash.jaccard(" ".join(base), other)
        est = minhash.estimate_jaccard(minhash.signature(" ".join(base)), minhash.signature(other))
        assert abs(est - true) < 0.1, (keep, true, est)


def test_band_keys_shared_only_by_similar_docs():
    rng = np.random.default_rng(2)
    cfg = minhash.MinHashConfig()
    bands, rows = cfg.band_rows
    text = _words(rng, 300)
    near = text + " extra"
    far = _words(rng, 300)
    k_text, k_near, k_far = (minhash.band_keys(minhash.signature(t, cfg), cfg) for t in (text, near, far))
    assert len(k_text) == bands and len(set(k_text)) == bands
    assert set(k_text) & set(k_near)
    assert not set(k_text) & set(k_far)


def test_config_validation():
    with pytest.raises(ValueError):
        minhash.MinHashConfig(threshold=1.5)
    with pytest.raises(ValueError):
        minhash.MinHashConfig(bands=30, rows=10)
    assert minhash.MinHashConfig(bands=16, rows=16).band_rows == (16, 16)


def test_signatures_batch_equals_datasketch_per_document():
    batch = minhash.signatures
    rng = np.random.default_rng(3)
    # Empty docs between others, short docs, one of 1,500 words,
    # non-ASCII, Unicode whitespace that str.split() splits on, a lone surrogate.
    texts = [_words(rng, int(n)) for n in rng.integers(1, 60, 40)] + ["", " \n", _words(rng, 1500), "x"]
    texts += ["Grüße  ÄÖÜ ß\u2003naïve\x1cword\xa0end ünïcödé 漢字 テスト e\u0301 more words here",
              "lone \ud800 surrogate and \U0001F600 emoji in a sentence of words"]
    texts = texts[::2] + texts[1::2]
    for num_perm in (256, 5):
        cfg = minhash.MinHashConfig(num_perm=num_perm)
        sigs = batch(texts, cfg)
        assert sigs.shape == (len(texts), num_perm) and sigs.dtype == np.uint64
        for text, sig in zip(texts, sigs):
            ref = datasketch.MinHash(num_perm=num_perm, seed=cfg.seed, hashfunc=minhash.shingle_hash,
                                     scheme="affine64")
            ref.update_batch(minhash.shingles(text, cfg.ngram))
            expected = ref.hashvalues if minhash.shingles(text) else np.full(num_perm, 2**64 - 1, np.uint64)
            np.testing.assert_array_equal(sig, expected)
            np.testing.assert_array_equal(sig, minhash.signature(text, cfg))
    assert batch([], minhash.MinHashConfig()).shape == (0, 256)


def test_jit_murmur3_equals_mmh3_at_every_tail_length():
    from pipelines.dedup import minhash_jit
    rng = np.random.default_rng(4)
    for length in [*range(0, 50), 255, 1000]:
        buf = rng.integers(0, 256, length + 2, dtype=np.uint8)
        assert minhash_jit.mmh3_x64_128_low(buf, 1, length + 1) == minhash.shingle_hash(buf[1:-1].tobytes())
