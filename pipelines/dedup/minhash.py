"""MinHash signatures and LSH band keys for near-duplicate detection.

Tokenisation (documented because it decides what "near duplicate" means):
the text is lowercased and split on runs of Unicode whitespace (`str.split()`),
so layout changes (indentation, line wrapping, trailing spaces) and case do not
matter while every other character does. Shingles are word n-grams (default 5)
joined by one space; a document shorter than n words is one shingle of all its
words; an empty or all-whitespace document has no shingles and no signature.

Hashing follows datasketch 2.0's "affine64" scheme bit for bit, so a signature
here equals `datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash,
scheme="affine64").hashvalues` (tests check it): each shingle is hashed to 64
bits with MurmurHash3 (mmh3, x64 128-bit variant, first word), pre-mixed with
the MurmurHash3 finalizer, then permuted by `a_k * h + b_k mod 2^64` with odd
`a_k` (a bijection) drawn from `numpy.random.RandomState(seed)`. We prefer it to
the textbook `(a*x+b) mod (2^61-1)` truncated to 32 bits (datasketch's "legacy"
scheme) because that fold is not collision-free and datasketch documents it as
biased on large sets. `signatures` runs hashing, permutation and min for a batch
of documents in one compiled loop (pipelines/dedup/minhash_jit.py; numba is a
hard dependency, so there is one code path to trust).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence

import numpy as np

_U64_MAX = np.uint64((1 << 64) - 1)


@functools.lru_cache(maxsize=64)   # every band_keys() call asks: computed once per setting
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5,
                  fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising fp_weight*FP + fn_weight*FN, datasketch's `_optimal_param`.

    FP is the area under the candidate probability 1-(1-s^r)^b below the
    threshold, FN the area above the threshold where it misses. Integrated on a
    fixed grid with numpy for every (b, r) with b*r <= num_perm at once,
    instead of ~1,500 scipy.quad calls.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    lo_s = np.linspace(0.0, threshold, 2001)
    hi_s = np.linspace(threshold, 1.0, 2001)
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        r_R = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp_R = np.trapezoid(1.0 - (1.0 - lo_s[None, :] ** r_R) ** b, lo_s, axis=1)
        fn_R = np.trapezoid((1.0 - hi_s[None, :] ** r_R) ** b, hi_s, axis=1)
        err_R = fp_R * fp_weight + fn_R * fn_weight
        i = int(np.argmin(err_R))
        if err_R[i] < best_err:
            best_err, best = float(err_R[i]), (b, i + 1)
    return best


@dataclasses.dataclass(frozen=True)
class MinHashConfig:
    """Near-dedup knobs. Defaults follow common LLM-data practice (5-grams, 256 perms, J >= 0.7)."""
    ngram: int = 5                 # words per shingle
    num_perm: int = 256            # permutations = signature length
    threshold: float = 0.7         # Jaccard similarity treated as "near duplicate"
    seed: int = 1                  # permutation seed (datasketch's default seed)
    fp_weight: float = 0.5         # weights of the band/row search
    fn_weight: float = 0.5
    bands: int = 0                 # 0: derived by optimal_bands(); else fixed (rows too)
    rows: int = 0

    def __post_init__(self):
        if self.ngram < 1 or self.num_perm < 1:
            raise ValueError("ngram and num_perm must be >= 1")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if (self.bands > 0) != (self.rows > 0) or self.bands * self.rows > self.num_perm:
            raise ValueError("bands and rows are set together and bands*rows <= num_perm")

    @property
    def band_rows(self) -> tuple[int, int]:
        if self.bands:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a_P, b_P) uint64, drawn exactly as datasketch's affine64 scheme draws them."""
    gen = np.random.RandomState(seed)
    a_P = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b_P = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    a_P.flags.writeable = False
    b_P.flags.writeable = False
    return a_P, b_P


def shingles(text: str, ngram: int = 5) -> list[bytes]:
    """Distinct word n-grams of the normalised text, UTF-8 encoded, in first-seen order."""
    words = text.lower().split()
    if not words:
        return []
    if len(words) <= ngram:
        return [" ".join(words).encode("utf-8", "surrogatepass")]
    grams = (" ".join(words[i:i + ngram]) for i in range(len(words) - ngram + 1))
    return list(dict.fromkeys(g.encode("utf-8", "surrogatepass") for g in grams))


def shingle_hash(shingle: bytes) -> int:
    """64-bit MurmurHash3 of one shingle; also the `hashfunc` to give datasketch."""
    import mmh3
    return mmh3.hash64(shingle, seed=0, x64arch=True, signed=False)[0]


def _signatures_jit(texts: Sequence[str], cfg: MinHashConfig) -> np.ndarray:
    """`signatures` through the fused numba kernel; Python still lowercases and splits."""
    from pipelines.dedup import minhash_jit
    data = [" ".join(t.lower().split()).encode("utf-8", "surrogatepass") for t in texts]
    starts_D = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, data), dtype=np.int64, count=len(data)), out=starts_D[1:])
    sig_DxP = np.full((len(data), cfg.num_perm), _U64_MAX, dtype=np.uint64)
    minhash_jit.signatures_into(np.frombuffer(b"".join(data), dtype=np.uint8), starts_D, cfg.ngram,
                                *permutations(cfg.num_perm, cfg.seed), sig_DxP)
    return sig_DxP


def signatures(texts: Sequence[str], cfg: MinHashConfig = MinHashConfig()) -> np.ndarray:
    """uint64 [len(texts) x num_perm]: row d is the MinHash of texts[d] (see `signature`).

    Computed by the numba kernel (pipelines.dedup.minhash_jit), bit-identical to datasketch
    affine64 (tests check it). Batching amortises per-call overhead.
    """
    return _signatures_jit(texts, cfg)


def signature(text: str, cfg: MinHashConfig = MinHashConfig()) -> np.ndarray:
    """uint64 [num_perm] MinHash of the text's shingles; all-max (2^64-1) when it has none."""
    return signatures([text], cfg)[0]


def has_shingles(sig: np.ndarray) -> bool:
    """False for the signature of a document without shingles (never a dedup candidate)."""
    return bool((sig != _U64_MAX).any())


def band_keys(sig: np.ndarray, cfg: MinHashConfig = MinHashConfig()) -> list[bytes]:
    """One key per band: 2-byte big-endian band index + 16-byte BLAKE2b of the band's rows.

    Two documents share a key iff (up to a 2^-128 collision) they agree on every
    row of that band; the index keeps equal rows in different bands apart.
    """
    bands, rows = cfg.band_rows
    raw = np.ascontiguousarray(sig[:bands * rows], dtype="<u8")
    return [i.to_bytes(2, "big") + hashlib.blake2b(raw[i * rows:(i + 1) * rows].tobytes(),
                                                   digest_size=16).digest()
            for i in range(bands)]


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal signature positions: an unbiased Jaccard estimate."""
    if a.shape != b.shape:
        raise ValueError(f"signatures differ in length: {a.shape} vs {b.shape}")
    return float(np.count_nonzero(a == b)) / float(a.size)


def jaccard(text_a: str, text_b: str, ngram: int = 5) -> float:
    """Exact Jaccard of the two shingle sets (for tests and benchmarks)."""
    sa, sb = set(shingles(text_a, ngram)), set(shingles(text_b, ngram))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
