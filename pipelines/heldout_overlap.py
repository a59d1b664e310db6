"""Held-out documents must not share content with what trains: the tokenize job's overlap rule and its measure.

The held-out split is by document id (pipelines/tokenize.py), but curated corpora keep near-duplicates that
MinHash dedup does not merge (templated instructions, generated problems, boilerplate-heavy files): a held-out
document can then have most of its text in training documents, and its loss measures recall, not
generalisation. The rule: a held-out candidate stays held out only when at most MAX_OVERLAP of its distinct
32-token windows (token ids, every position) occur in any *other* document of the corpus, training or
held-out; otherwise it trains. Comparing against every other document, not only the training split, makes the
rule order-free: moving a candidate to training cannot raise another remaining candidate's overlap above what
was measured. The cost is fewer held-out documents, biased towards documents with unique content: the manifest
records how many candidates moved (`heldout_rule.moved_to_train`).

Windows are 64-bit polynomial hashes of the ids (collisions ~n^2 / 2^64). The tokenize job gathers the
candidates' distinct windows into a WindowIndex (a side input: 16 bytes per candidate window, fine for the
held-out shares evals reads, not for a 1% split of a trillion tokens), every document's windows are looked
up in it where the document's tokens lie (pipelines/tokenize_passes.py), and only a bitmap of the candidate
windows found elsewhere (one bit per window) is combined, so no document's tokens cross a shuffle.

`python -m pipelines.heldout_overlap TOKENS` measures a tokenized root: per source, the share of its held-out
documents' windows found in the training shards of every source.
"""
from __future__ import annotations

import argparse
import json
import sys

import apache_beam as beam
import numpy as np

WINDOW = 32            # tokens per window
MAX_OVERLAP = 0.01     # share of a held-out document's distinct windows allowed elsewhere in the corpus
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def window_hashes(ids: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Distinct uint64 hashes of every `window`-token run of `ids` (empty when the document is shorter)."""
    ids = np.asarray(ids, dtype=np.uint64)
    if ids.size < window:
        return np.zeros(0, np.uint64)
    powers = np.cumprod(np.full(window, _MULTIPLIER, np.uint64), dtype=np.uint64)[::-1]
    runs = np.lib.stride_tricks.sliding_window_view(ids + np.uint64(1), window)
    with np.errstate(over="ignore"):
        hashes = (runs * powers).sum(axis=1, dtype=np.uint64)
    return np.unique(hashes)


class WindowIndex:
    """Every held-out candidate's distinct windows, flattened into entries (hash, candidate) sorted by hash.

    A hit is an entry whose hash occurs in a document with another key than the entry's candidate; hits are
    marked in a boolean array over the entries (one bit per candidate window, packed when it crosses a
    shuffle), so the overlap of every candidate is an OR of per-worker bitmaps and a count, and no token or
    document crosses a shuffle. `candidates`: (key, windows) in a fixed order; key = (source, id)."""

    def __init__(self, candidates):
        keys = [key for key, _ in candidates]
        counts = np.array([len(w) for _, w in candidates], dtype=np.int64)
        hashes = (np.concatenate([np.asarray(w, np.uint64) for _, w in candidates]) if candidates
                  else np.zeros(0, np.uint64))
        owners = np.repeat(np.arange(len(candidates), dtype=np.int32), counts)
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        self.owner, self.counts = owners[order], counts
        self.unique, first = np.unique(hashes, return_index=True)   # kept: 8 B per distinct hash + 4 per entry
        self.starts = np.append(first, len(hashes)).astype(np.int32 if len(hashes) < 2**31 else np.int64)
        by_key: dict = {}
        for i, key in enumerate(keys):
            by_key.setdefault(key, []).append(i)
        self.by_key = {k: np.array(v, np.int32) for k, v in by_key.items()}

    @property
    def entries(self) -> int:
        return len(self.owner)

    def mark(self, hit: np.ndarray, key, hashes: np.ndarray) -> None:
        """Set hit[e] for every entry whose hash is in `hashes` (one document's windows) and whose candidate
        has a key other than this document's `key`."""
        if not len(self.unique) or not len(hashes):
            return
        idx = np.searchsorted(self.unique, hashes)
        inside = idx < len(self.unique)
        idx = idx[inside]
        us = idx[self.unique[idx] == hashes[inside]]
        if not len(us):
            return
        lo, hi = self.starts[us].astype(np.int64), self.starts[us + 1].astype(np.int64)
        lens = hi - lo
        ents = np.repeat(lo, lens) + (np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens))
        own = self.by_key.get(key)
        if own is not None:
            ents = ents[~np.isin(self.owner[ents], own)]
        hit[ents] = True

    def fractions(self, hit: np.ndarray | None) -> np.ndarray:
        """Per candidate: distinct windows found in another document / its distinct windows (0 without any)."""
        found = (np.bincount(self.owner[hit], minlength=len(self.counts)) if hit is not None and len(hit)
                 else np.zeros(len(self.counts), np.int64))
        return np.divide(found, self.counts, out=np.zeros(len(self.counts)), where=self.counts > 0)


def survivor_threshold(smallest: list[int], documents: int, min_documents: int) -> int:
    """Among candidates that passed the overlap rule: the k-th smallest held-out key, k = min(min_documents,
    documents // 10), or the largest when fewer survived (all of them stay); -1 keeps none."""
    k = min(min_documents, documents // 10)
    ordered = sorted(smallest)
    return -1 if k <= 0 or not ordered else ordered[min(k, len(ordered)) - 1]


def final_heldout(candidates, fractions, documents: dict, limit: float, fraction: float, min_documents: int,
                  rule: bool) -> tuple[list[bool], dict[str, int]]:
    """Which candidates stay held out, and per source how many moved to training for their overlap.

    `candidates`: (source, held-out key) per candidate (key < fraction or within the oversampled minimum
    count); `fractions`: their overlaps; `documents`: documents per source. Without the rule every candidate
    is held out. With it, a candidate stays when its overlap is within `limit` and the id-hash fraction or the
    survivors' minimum count (survivor_threshold) admits it; every other candidate trains."""
    if not rule:
        return [True] * len(candidates), {}
    moved: dict[str, int] = {}
    survivors: dict[str, list[int]] = {}
    for (source, key), share in zip(candidates, fractions):
        if share > limit:
            moved[source] = moved.get(source, 0) + 1
        else:
            survivors.setdefault(source, []).append(key)
    thresholds = {s: survivor_threshold(sorted(keys)[:max(1, min_documents)], documents.get(s, 0), min_documents)
                  for s, keys in survivors.items()}
    keep = [share <= limit and (key < fraction * 2.0 ** 64 or key <= thresholds.get(source, -1))
            for (source, key), share in zip(candidates, fractions)]
    return keep, moved


def measure(tokens_root: str) -> dict[str, dict]:
    """{source: {heldout_documents, windows, found_in_training, fraction}} for a tokenized root: distinct
    32-token windows of each source's held-out documents that occur in any source's training shards."""
    from tokens import paths
    from tokens.manifest import load_manifest
    from tokens.source import TokenizedSource

    manifests = {}
    for name in sorted(paths.list_dir(tokens_root)):
        path = paths.join(tokens_root, name, "manifest.json")
        if paths.exists(path):
            manifests[name] = load_manifest(path)
    if not manifests:
        raise ValueError(f"{tokens_root}: no SOURCE/manifest.json under it")
    training = []
    for manifest in manifests.values():
        with TokenizedSource(manifest) as source:
            training += [window_hashes(source[i]) for i in range(len(source))]
    seen = np.unique(np.concatenate(training)) if training else np.zeros(0, np.uint64)
    out = {}
    for name, manifest in manifests.items():
        if not manifest.heldout:
            continue
        with TokenizedSource(manifest.heldout_manifest()) as held:
            docs = [window_hashes(held[i]) for i in range(len(held))]
        total = sum(len(d) for d in docs)
        found = sum(int(np.isin(d, seen, assume_unique=True).sum()) for d in docs)
        out[name] = {"heldout_documents": len(docs), "windows": total, "found_in_training": found,
                     "fraction": found / total if total else 0.0}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.heldout_overlap", description=(
        "Share of each source's held-out 32-token windows (distinct, every position) found in the training "
        "shards of any source of a tokenized root."))
    parser.add_argument("tokens", metavar="TOKENS", help="tokenized root (pipelines.tokenize --output)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        result = measure(args.tokens)
    except (ValueError, OSError) as e:
        print(f"python -m pipelines.heldout_overlap: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, allow_nan=False))
        return 0
    print(f"{'source':<16}{'held-out docs':>14}{'windows':>10}{'in training':>13}{'share':>9}")
    for name, r in result.items():
        print(f"{name:<16}{r['heldout_documents']:>14}{r['windows']:>10}{r['found_in_training']:>13}"
              f"{r['fraction']:>9.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
