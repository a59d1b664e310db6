"""`mixer sample`: decode a few documents per source, in the order the SamplingPlan would train on them."""
from __future__ import annotations

from typing import Iterator

from mixer.sampling_plan import SamplingPlan
from tokens import paths


def sample_documents(mixture: dict, per_source: int, seed: int | None = None,
                     max_picks: int = 1_000_000) -> dict[str, list[int]]:
    """The first `per_source` document indices the plan picks from each source (stops after max_picks)."""
    plan = SamplingPlan(mixture, seed=seed)
    picked: dict[str, list[int]] = {name: [] for name in plan.sources if mixture["sources"][name]["weight"] > 0}
    for _ in range(max_picks):
        if all(len(v) >= per_source for v in picked.values()):
            break
        source, index = plan.next()
        if len(picked[source]) < per_source:
            picked[source].append(index)
    return picked


class SampleError(ValueError):
    """A sample request that cannot be served; the message says which input and why."""


def load_tokenizer(path: str, mixture: dict):
    """The SentencePiece processor at `path`, which must be the model the mixture's data was tokenized with."""
    import hashlib

    import sentencepiece as spm

    try:
        proto = paths.read_bytes(path)
    except Exception as e:  # missing file, directory, permissions, object-store errors
        raise SampleError(f"--tokenizer {path}: cannot read it ({type(e).__name__}: {e})") from None
    want = mixture.get("tokenizer_sha256", "")
    have = hashlib.sha256(proto).hexdigest()
    if want and have != want:
        raise SampleError(f"--tokenizer {path} (sha256 {have[:12]}) is not the tokenizer of this mixture's data "
                          f"(sha256 {want[:12]}): pass the tokenizer.model the data was tokenized with")
    try:
        return spm.SentencePieceProcessor(model_proto=proto)
    except Exception as e:  # sentencepiece raises RuntimeError on anything that is not a model
        raise SampleError(f"--tokenizer {path} is not a SentencePiece model ({type(e).__name__})") from None


def decoded(mixture: dict, picked: dict[str, list[int]], processor,
            max_chars: int = 300) -> Iterator[tuple[str, int, int, str]]:
    """(source, document index, tokens, text truncated to max_chars) for every picked document;
    `processor` from load_tokenizer."""
    from tokens.source import TokenizedSource

    for name, indices in sorted(picked.items()):
        with TokenizedSource.open(mixture["sources"][name]["manifest"], verify=False) as source:
            for index in indices:
                ids = source[index]
                text = processor.decode([int(t) for t in ids])
                if len(text) > max_chars:
                    text = text[:max_chars] + f" ... [{len(text) - max_chars} more chars]"
                yield name, index, int(ids.size), text
