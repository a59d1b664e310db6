"""SamplingPlan: the deterministic stream of (source, document index) picks a mixture trains on.

Source choice is stride scheduling on virtual time (Sainte-Lague apportionment run as a stream) over
document rates, or, with `doc_tokens`, over realised tokens: the source whose next document's midpoint
falls earliest in its token share goes next, so every source stays within about half a document of its
share at every point. Documents within a source follow a keyed Feistel permutation per epoch (O(1)
memory, no repeats within an epoch). The state is a few counters, so a plan resumes exactly. Pure
Python, no numpy or JAX on the hot path: the trainer calls next() once per document. Several hosts each
run a plan over their own shard slice (trainer.host_slices). The reasoning and the measured errors are
in docs/decisions.md ("Sampling plan").
"""
from __future__ import annotations

import hashlib
import struct
from typing import Callable, Iterator

STATE_VERSION = 1
_M64 = (1 << 64) - 1
_ROUNDS = 4


class EpochPermutation:
    """A bijection of [0, n) keyed by (seed, source, epoch); O(1) memory, O(1) expected time per index.

    Alternating-width Feistel over k = bit_length(n - 1) bits (halves of ceil(k/2) and
    floor(k/2) bits swap roles each round; 4 rounds, so widths end where they started), which
    keeps the domain below 2n: cycle walking needs under 2 round trips on average.
    """

    __slots__ = ("n", "epoch", "rounds", "right_bits", "_right_mask", "_flat")

    def __init__(self, n: int, seed: int, source: str, epoch: int):
        if not 0 < n < 1 << 64:
            raise ValueError(f"permutation of {n} elements (supported: 1 .. 2^64 - 1)")
        self.n, self.epoch = n, epoch
        bits = (n - 1).bit_length()
        wide, narrow = (bits + 1) // 2, bits // 2
        self.right_bits = narrow
        digest = hashlib.blake2b(f"{seed}\x00{source}\x00{epoch}".encode("utf-8"),
                                 digest_size=8 * _ROUNDS).digest()
        keys = struct.unpack(f"<{_ROUNDS}Q", digest)
        # round r: (key, mask of the left half's width); the left half is `wide` bits on even rounds
        self.rounds = tuple((key, (1 << (wide if r % 2 == 0 else narrow)) - 1) for r, key in enumerate(keys))
        self._right_mask = (1 << narrow) - 1
        self._flat = tuple(v for pair in self.rounds for v in pair)   # (k0, m0, k1, m1, ...) for the unrolled walk

    def __call__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} outside [0, {self.n})")
        return self._walk(i)

    def _walk(self, y: int) -> int:
        """The 4-round Feistel network (round function: multiply-xorshift-multiply hash, high bits), unrolled,
        with cycle walking until the value falls below n (the plan calls this once per document)."""
        n, bits, right_mask = self.n, self.right_bits, self._right_mask
        k0, m0, k1, m1, k2, m2, k3, m3 = self._flat
        while True:
            left, right = y >> bits, y & right_mask
            z = ((right ^ k0) * 0x9E3779B97F4A7C15) & _M64
            left, right = right, left ^ ((((z ^ (z >> 32)) * 0xBF58476D1CE4E5B9) & _M64) >> 32 & m0)
            z = ((right ^ k1) * 0x9E3779B97F4A7C15) & _M64
            left, right = right, left ^ ((((z ^ (z >> 32)) * 0xBF58476D1CE4E5B9) & _M64) >> 32 & m1)
            z = ((right ^ k2) * 0x9E3779B97F4A7C15) & _M64
            left, right = right, left ^ ((((z ^ (z >> 32)) * 0xBF58476D1CE4E5B9) & _M64) >> 32 & m2)
            z = ((right ^ k3) * 0x9E3779B97F4A7C15) & _M64
            left, right = right, left ^ ((((z ^ (z >> 32)) * 0xBF58476D1CE4E5B9) & _M64) >> 32 & m3)
            y = (left << bits) | right
            if y < n:                         # cycle walking: stays a bijection of [0, n)
                return y


class SamplingPlan:
    """Deterministic stream of (source, document index) picks for a mixture (see module docstring).

    mixture: a mixture.json dict (mixer.mixture.load_mixture); seed defaults to mixture["seed"].
    """

    def __init__(self, mixture: dict, *, seed: int | None = None,
                 doc_tokens: Callable[[str, int], int] | None = None):
        entries = mixture.get("sources") or {}
        if not entries:
            raise ValueError("mixture has no sources")
        self.seed = int(mixture.get("seed", 0) if seed is None else seed)
        self.sources: list[str] = sorted(entries)
        self._doc_tokens = doc_tokens
        self._active: list[int] = []          # indices of sources with weight > 0
        self._documents: list[int] = []
        self._weights: list[float] = []
        self._stride: list[float] = []        # virtual time per document pick (1 / document rate)
        self._mean_len: list[float] = []
        for i, name in enumerate(self.sources):
            entry = entries[name]
            weight = float(entry["weight"])
            docs, tokens = int(entry["documents"]), int(entry["available_tokens"])
            self._documents.append(docs)
            self._weights.append(weight)
            mean = tokens / docs if docs else 0.0
            self._mean_len.append(mean)
            if weight < 0:
                raise ValueError(f"source {name!r}: negative weight {weight}")
            if weight > 0:
                if docs <= 0 or tokens <= 0:
                    raise ValueError(f"source {name!r} has weight {weight} but no documents")
                self._active.append(i)
            self._stride.append(mean / weight if weight > 0 else float("inf"))
        if not self._active:
            raise ValueError("mixture has no source with a positive weight")
        self._perms: dict[int, EpochPermutation] = {}
        self._reset()

    # ---- state ---------------------------------------------------------------------------
    def _reset(self) -> None:
        n = len(self.sources)
        self._counts = [0] * n                # global picks per source so far
        self._tokens = [0] * n                # realised tokens per source (token feedback only)
        self._position = 0                    # global picks generated so far
        self._next_len = [-1] * n             # cached length of each source's next document (-1: unknown)
        self._next_doc = [-1] * n             # ... and its document index (valid while _next_len >= 0)

    def get_state(self) -> dict:
        """JSON-able state; set_state on a plan built from the same mixture resumes exactly."""
        state = {"version": STATE_VERSION, "seed": self.seed, "position": self._position,
                 "counts": {s: self._counts[i] for i, s in enumerate(self.sources)}}
        if self._doc_tokens is not None:
            state["tokens"] = {s: self._tokens[i] for i, s in enumerate(self.sources)}
        return state

    def set_state(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"sampling state version {state.get('version')!r} (expected {STATE_VERSION})")
        if state.get("seed") != self.seed:
            raise ValueError(f"sampling state has seed={state.get('seed')!r}, this plan {self.seed!r}")
        if state.get("process_count", 1) != 1:   # written when hosts strided one global stream
            raise ValueError(f"sampling state of host {state.get('process_index')} of {state['process_count']} "
                             "sharing one global stream: hosts now sample their own shard slices")
        counts = state.get("counts") or {}
        if sorted(counts) != self.sources:
            raise ValueError(f"sampling state sources {sorted(counts)} differ from the mixture's {self.sources}")
        if (self._doc_tokens is not None) != ("tokens" in state):
            raise ValueError("sampling state and plan disagree on token feedback (doc_tokens)")
        self._counts = [int(counts[s]) for s in self.sources]
        if sum(self._counts) != int(state["position"]):
            raise ValueError("sampling state is inconsistent: counts do not sum to position")
        self._position = int(state["position"])
        if "tokens" in state:
            self._tokens = [int(state["tokens"][s]) for s in self.sources]
        self._next_len = [-1] * len(self.sources)
        self._next_doc = [-1] * len(self.sources)

    # ---- the stream ----------------------------------------------------------------------
    def _next_length(self, i: int) -> int:
        """Tokens of source i's next document (looked up once, cached until it is picked)."""
        length = self._next_len[i]
        if length < 0:
            name, index = self.sources[i], self.document(i, self._counts[i])
            length = int(self._doc_tokens(name, index))
            if length <= 0:
                raise ValueError(f"doc_tokens({name!r}, {index}) returned {length}; documents have >= 1 token")
            self._next_len[i], self._next_doc[i] = length, index
        return length

    def document(self, source_index: int, count: int) -> int:
        """Document index of pick number `count` (0-based) of source `source_index`."""
        n = self._documents[source_index]
        epoch, offset = divmod(count, n)
        perm = self._perms.get(source_index)
        if perm is None or perm.epoch != epoch:
            perm = EpochPermutation(n, self.seed, self.sources[source_index], epoch)
            self._perms[source_index] = perm
        return perm._walk(offset)             # 0 <= offset < n by construction

    def next(self) -> tuple[str, int]:
        """The next pick: (source name, document index within that source)."""
        if self._doc_tokens is None:      # open loop: due time from pick counts (called once per document)
            counts, stride = self._counts, self._stride
            best, best_due = -1, float("inf")
            for i in self._active:
                due = (counts[i] + 0.5) * stride[i]
                if due < best_due:
                    best, best_due = i, due
            count = counts[best]
            counts[best] = count + 1
            self._position += 1
            return self.sources[best], self.document(best, count)
        # closed loop (token feedback), inlined the same way; the next document of every source and
        # its length are cached, so each pick walks one permutation and calls doc_tokens once
        tokens, weights, next_len = self._tokens, self._weights, self._next_len
        best, best_due = -1, float("inf")
        for i in self._active:
            length = next_len[i]
            if length < 0:
                length = self._next_length(i)
            due = (tokens[i] + 0.5 * length) / weights[i]
            if due < best_due:
                best, best_due = i, due
        self._counts[best] += 1
        tokens[best] += next_len[best]
        next_len[best] = -1
        self._position += 1
        return self.sources[best], self._next_doc[best]

    __next__ = next

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return self

    def take(self, n: int) -> list[tuple[str, int]]:
        return [self.next() for _ in range(n)]

    @property
    def position(self) -> int:
        """Picks generated so far."""
        return self._position

