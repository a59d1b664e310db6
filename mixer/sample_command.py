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


def decoded(mixture: dict, picked: dict[str, list[int]], tokenizer_path: str,
            max_chars: int = 300) -> Iterator[tuple[str, int, int, str]]:
    """(source, document index, tokens, text truncated to max_chars) for every picked document."""
    import sentencepiece as spm

    from tokens.source import TokenizedSource

    with paths.open_read(tokenizer_path) as f:
        processor = spm.SentencePieceProcessor(model_proto=f.read())
    for name, indices in sorted(picked.items()):
        with TokenizedSource.open(mixture["sources"][name]["manifest"], verify=False) as source:
            for index in indices:
                ids = source[index]
                text = processor.decode([int(t) for t in ids])
                if len(text) > max_chars:
                    text = text[:max_chars] + f" ... [{len(text) - max_chars} more chars]"
                yield name, index, int(ids.size), text
