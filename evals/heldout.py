"""Per-source held-out loss with a bootstrap confidence interval, on the manifests' held-out shards.

Each held-out document (pipelines.tokenize --heldout-fraction: never trained on, by construction) is scored
the way training sees documents: split into windows of seq_len + 1 tokens overlapping by one token, positions
restarting at 0 in each window, every next-token transition counted once. A source's loss is total NLL /
total predicted tokens over its documents (nats per token); the 95% interval is a percentile bootstrap over
documents (documents, not tokens, are the independent units), with a fixed seed. Runs evaluated on the same
held-out documents can be compared more tightly than these per-run intervals suggest (the noise is paired).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


MIN_DOCUMENTS = 5   # fewer documents give no interval: a bootstrap over 1-4 units is not a confidence interval


@dataclasses.dataclass(frozen=True)
class SourceLoss:
    source: str
    loss: float              # nats per predicted token
    ci_low: float | None     # None below MIN_DOCUMENTS documents
    ci_high: float | None
    documents: int
    tokens: int              # predicted tokens


def windows(doc: np.ndarray, seq_len: int) -> list[tuple[list[int], list[int]]]:
    """(first token, rest) pairs of the doc's windows of seq_len + 1 tokens, consecutive ones sharing a token."""
    ids = [int(x) for x in doc]
    out = []
    for start in range(0, max(1, len(ids) - 1), seq_len):
        chunk = ids[start:start + seq_len + 1]
        if len(chunk) >= 2:
            out.append((chunk[:1], chunk[1:]))
    return out


def document_losses(engine, docs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(NLL sum, predicted tokens) per document, scored with an evals.inference.Engine."""
    pairs, owners = [], []
    for i, doc in enumerate(docs):
        for pair in windows(doc, engine.cfg.seq_len):
            pairs.append(pair)
            owners.append(i)
    nll, count = np.zeros(len(docs)), np.zeros(len(docs), np.int64)
    for owner, (pair, (logprob, _)) in zip(owners, zip(pairs, engine.score(pairs) if pairs else [])):
        nll[owner] -= logprob
        count[owner] += len(pair[1])
    return nll, count


def bootstrap_ci(nll: np.ndarray, tokens: np.ndarray, reps: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float] | tuple[None, None]:
    """Percentile bootstrap interval of sum(nll) / sum(tokens), resampling documents; (None, None) below
    MIN_DOCUMENTS documents (say "too few documents", never show a degenerate interval)."""
    if len(nll) < MIN_DOCUMENTS:
        return None, None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(nll), size=(reps, len(nll)))
    ratios = nll[picks].sum(1) / np.maximum(tokens[picks].sum(1), 1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def heldout_documents(tokens_root: str, source: str, max_tokens: int | None = None) -> list[np.ndarray]:
    """The source's held-out documents in manifest order, stopping once `max_tokens` are collected."""
    from tokens import paths
    from tokens.manifest import load_manifest
    from tokens.source import TokenizedSource

    from evals.errors import InputError

    path = paths.join(tokens_root, source, "manifest.json")
    if not paths.exists(path):
        raise InputError(f"--data {tokens_root}: no source {source!r} ({path} does not exist)")
    manifest = load_manifest(path)
    if not sum(shard.documents for shard in manifest.heldout):
        raise InputError(f"{tokens_root}/{source}: the manifest lists no held-out documents; re-tokenize with "
                         "pipelines.tokenize --heldout-fraction")
    held = TokenizedSource(manifest.heldout_manifest())
    docs, total = [], 0
    for i in range(len(held)):
        if max_tokens is not None and total >= max_tokens:
            break
        docs.append(held[i])
        total += len(docs[-1])
    return docs


def heldout_sources(tokens_root: str) -> list[str]:
    """Sources under TOKENS whose manifests carry a held-out split."""
    from evals.errors import InputError
    from tokens import paths
    from tokens.manifest import load_manifest

    if not paths.exists(tokens_root):
        raise InputError(f"--data {tokens_root}: no such directory (a tokenized root, pipelines.tokenize --output)")
    found, manifests = [], 0
    for name in paths.list_dir(tokens_root):
        path = paths.join(tokens_root, name, "manifest.json")
        if paths.exists(path):
            manifests += 1
            if sum(shard.documents for shard in load_manifest(path).heldout):   # an empty split says nothing
                found.append(name)
    if not found:
        raise InputError(f"--data {tokens_root}: " + (
            "no SOURCE/manifest.json under it (a tokenized root, pipelines.tokenize --output, not a mixture)"
            if not manifests else f"none of its {manifests} manifests lists held-out shards "
                                  "(pipelines.tokenize --heldout-fraction)"))
    return found


def evaluate(engine, tokens_root: str, sources: Sequence[str] | None = None,
             max_tokens: int | None = None) -> list[SourceLoss]:
    """Held-out loss per source (all sources with a held-out split by default)."""
    out = []
    for source in (sources or heldout_sources(tokens_root)):
        docs = heldout_documents(tokens_root, source, max_tokens)
        nll, count = document_losses(engine, docs)
        low, high = bootstrap_ci(nll, count)
        out.append(SourceLoss(source, float(nll.sum() / max(1, count.sum())), low, high, len(docs),
                              int(count.sum())))
    return out
