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

Windows are 64-bit polynomial hashes of the ids (collisions ~n^2 / 2^64). The index of held-out windows is a
side input: its size is the held-out token count x 8 bytes, fine for the held-out shares evals reads (tens of
thousands of tokens per source), not for a 1% split of a trillion tokens.

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


class _Index:
    """Held-out windows: sorted hashes and, per hash, the documents holding it."""

    def __init__(self, pairs):
        owners: dict[int, list] = {}
        for key, hashes in pairs:
            for h in hashes.tolist():
                owners.setdefault(h, []).append(key)
        self.owners = owners
        self.hashes = np.array(sorted(owners), dtype=np.uint64)


def _hits(element, index: _Index, tokens_of):
    """(held-out document, hash) for every window of this document that a *different* held-out document has."""
    key, ids = tokens_of(element)
    if not len(index.hashes):
        return
    hashes = window_hashes(ids)
    for h in hashes[np.isin(hashes, index.hashes, assume_unique=True)].tolist():
        for owner in index.owners[h]:
            if owner != key:
                yield owner, h


class HeldoutOverlap(beam.PTransform):
    """candidates: (key, ids) of held-out candidates; expand(documents) -> {key: fraction of the candidate's
    distinct windows found in another document}, as a PCollection of (key, fraction). `tokens_of(element)`
    gives (key, ids) for an element of `documents` (every document, candidates included)."""

    def __init__(self, candidates, tokens_of, label: str = "held-out overlap"):
        super().__init__(label)
        self.candidates, self.tokens_of = candidates, tokens_of

    def expand(self, documents):
        windows = self.candidates | "candidate windows" >> beam.Map(lambda kv: (kv[0], window_hashes(kv[1])))
        index = (windows
                 | "all candidate windows" >> beam.combiners.ToList()
                 | "index candidate windows" >> beam.Map(_Index))
        hits = (documents
                | "windows found elsewhere" >> beam.FlatMap(_hits, beam.pvalue.AsSingleton(index), self.tokens_of)
                | "distinct hits" >> beam.Distinct()
                | "hit per candidate" >> beam.Map(lambda kv: (kv[0], 1))
                | "hits per candidate" >> beam.CombinePerKey(sum))
        return (windows
                | "window count" >> beam.Map(lambda kv: (kv[0], len(kv[1])))
                | "overlap fraction" >> beam.Map(
                    lambda kv, found: (kv[0], found.get(kv[0], 0) / kv[1] if kv[1] else 0.0),
                    beam.pvalue.AsDict(hits)))


def survivor_threshold(smallest: list[int], documents: int, min_documents: int) -> int:
    """Among candidates that passed the overlap rule: the k-th smallest held-out key, k = min(min_documents,
    documents // 10), or the largest when fewer survived (all of them stay); -1 keeps none."""
    k = min(min_documents, documents // 10)
    ordered = sorted(smallest)
    return -1 if k <= 0 or not ordered else ordered[min(k, len(ordered)) - 1]


def _doc_tokens(element):
    """((source, split), (order key, id, n, record)) -> ((source, id), token ids)."""
    from tokens import records

    (source, _), (_, doc_id, _, record) = element
    return (source, doc_id), records.decode_tokens(record)


def _final_split(element, overlap: dict, thresholds: dict, limit: float, fraction: float, names):
    """A candidate stays held out when its overlap is within `limit` and the id-hash fraction or the
    survivors' minimum count admits it; every other document trains."""
    from apache_beam.metrics import Metrics

    from tokens import shards

    train, heldout = names
    (source, split), doc = element
    if split != heldout:
        return element
    if overlap.get((source, doc[1]), 0.0) > limit:
        Metrics.counter("tokenize", f"{source}/heldout_moved_to_train").inc()
        return (source, train), doc
    key = shards.heldout_key(doc[1])
    if key < fraction * 2.0 ** 64 or key <= thresholds.get(source, -1):
        return element
    return (source, train), doc   # a spare candidate: enough survivors have smaller keys


def without_overlap(split, documents, limit: float, fraction: float, min_documents: int, names=("train", "heldout")):
    """The tokenize job's split with the overlap rule applied. `split`: ((source, split name), doc) with
    doc = (order key, id, n tokens, record); `documents`: (source, document count); `names`: the (train,
    held-out) split names. Candidates whose windows the corpus holds elsewhere train; the minimum count is
    then taken among the survivors (the job oversamples candidates for this)."""
    from tokens import shards

    heldout = names[1]
    candidates = (split
                  | "held-out candidates" >> beam.Filter(lambda kv: kv[0][1] == heldout)
                  | "candidate tokens" >> beam.Map(_doc_tokens))
    overlap = split | HeldoutOverlap(candidates, _doc_tokens)
    survivors = (overlap
                 | "within the overlap limit" >> beam.Filter(lambda kv: kv[1] <= limit)
                 | "survivor key" >> beam.Map(lambda kv: (kv[0][0], shards.heldout_key(kv[0][1])))
                 | "smallest survivor keys" >> beam.combiners.Top.SmallestPerKey(max(1, min_documents)))
    thresholds = (documents
                  | "survivor threshold" >> beam.Map(
                      lambda kv, small: (kv[0], survivor_threshold(small.get(kv[0], []), kv[1], min_documents)),
                      beam.pvalue.AsDict(survivors)))
    return split | "held out: no overlap, within the count" >> beam.Map(
        _final_split, beam.pvalue.AsDict(overlap), beam.pvalue.AsDict(thresholds), limit, fraction, names)


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
