"""Benchmark corpus: data/sample's prose and code scaled to N unique documents, deterministically.

Document i starts from base document i mod B (B = the sample's clean SlimPajama prose
documents plus Stack code files, read with our own readers so planted defects stay out)
and gets mutations drawn from random.Random(seed, i): adjacent word swaps (1-4), one
inserted numbered sentence, and a "Variant i" line. So every document is unique (the
variant line and sentence carry i), yet documents of the same base are near duplicates,
as web crawls are. Whitespace (line and paragraph structure) is kept, so line-based
quality rules and code indentation see realistic input.

Output: jsonl.zst shards in the SlimPajama schema, each line
{"id": "bench-00000042", "text": ..., "meta": {"redpajama_set_name": ...}}: our slimpajama
reader ignores "id", datatrove's JsonlReader reads "text" and "id". Same (n, seed) ->
same bytes (zstd level fixed, no timestamps).

    python -m benchmarks.corpus --output /tmp/corpus --documents 200000 [--shards 8] [--seed 0]
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
from collections.abc import Iterator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "sample")
CODE_SET = "RedPajamaGithub"      # set name carried by code-based documents (meta only)
PROSE_SET = "RedPajamaCommonCrawl"
_TOKENS = re.compile(r"(\s+)")
_SENTENCES = (
    "Note {i}: the value of item {a} is {b}, and it was checked again on run {c}.",
    "In revision {i} the author added {a} examples and removed {b} of the older ones.",
    "See also section {a}.{b} of the reference, which was updated for release {i}.",
    "This page was generated for variant {i} with {a} words and {b} links to other pages.",
)


@functools.lru_cache(maxsize=1)
def base_documents(sample_root: str = SAMPLE, max_code_chars: int = 20_000) -> tuple[tuple[str, str], ...]:
    """(set name, text) of the sample's clean prose and code documents, in a fixed order."""
    import glob

    from pipelines.document import Document
    from pipelines.sources import parse_file

    bases: list[tuple[str, str]] = []
    for family, pattern, set_name in (("slimpajama", "*.jsonl.zst", PROSE_SET), ("stack", "*.parquet", CODE_SET)):
        for path in sorted(glob.glob(os.path.join(sample_root, family, pattern))):
            for rec in parse_file(family, path, root=sample_root):
                if not isinstance(rec, Document) or not rec.text.strip():
                    continue
                if family == "slimpajama":
                    set_name = rec.meta.get("redpajama_set_name") or PROSE_SET
                elif len(rec.text) > max_code_chars:
                    continue
                bases.append((set_name, rec.text))
    if not bases:
        raise FileNotFoundError(f"no prose or code documents under {sample_root}")
    return tuple(bases)


def mutate(text: str, i: int, rng: random.Random) -> str:
    """Swap 1-4 pairs of adjacent words, insert one numbered sentence, add a variant line."""
    parts = _TOKENS.split(text)          # words at even indices, whitespace runs at odd ones
    words = list(range(0, len(parts), 2))
    for _ in range(rng.randint(1, 4)):
        if len(words) < 2:
            break
        k = rng.randrange(len(words) - 1)
        a, b = words[k], words[k + 1]
        parts[a], parts[b] = parts[b], parts[a]
    lines = "".join(parts).split("\n")
    sentence = rng.choice(_SENTENCES).format(i=i, a=rng.randint(1, 999), b=rng.randint(1, 99), c=rng.randint(1, 9999))
    lines.insert(rng.randrange(len(lines) + 1), sentence)
    return f"Variant {i}\n" + "\n".join(lines)


def documents(n: int, seed: int = 0, sample_root: str = SAMPLE) -> Iterator[dict]:
    """The N records {"id", "text", "meta"}, in order."""
    bases = base_documents(sample_root)
    for i in range(n):
        set_name, text = bases[i % len(bases)]
        rng = random.Random(f"{seed}:{i}")
        yield {"id": f"bench-{i:08d}", "text": mutate(text, i, rng), "meta": {"redpajama_set_name": set_name}}


def texts(n: int, seed: int = 0, sample_root: str = SAMPLE) -> list[str]:
    return [d["text"] for d in documents(n, seed, sample_root)]


def write_corpus(output: str, n: int, shards: int = 4, seed: int = 0, sample_root: str = SAMPLE) -> list[str]:
    """Write N documents as `shards` jsonl.zst files (contiguous ranges of i); returns their paths."""
    import zstandard

    os.makedirs(output, exist_ok=True)
    shards = max(1, min(shards, n))
    bounds = [n * s // shards for s in range(shards + 1)]
    docs = documents(n, seed, sample_root)
    paths = []
    for s in range(shards):
        path = os.path.join(output, f"bench-{s:05d}-of-{shards:05d}.jsonl.zst")
        tmp = path + ".tmp"
        with open(tmp, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
            for _ in range(bounds[s], bounds[s + 1]):
                out.write(json.dumps(next(docs), ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n")
        os.replace(tmp, path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", required=True, help="folder for the jsonl.zst shards (created)")
    ap.add_argument("--documents", type=int, default=200_000, help="number of documents N")
    ap.add_argument("--shards", type=int, default=4, help="number of jsonl.zst files")
    ap.add_argument("--seed", type=int, default=0, help="mutation seed (same seed, same bytes)")
    args = ap.parse_args(argv)
    paths = write_corpus(args.output, args.documents, args.shards, args.seed)
    size = sum(os.path.getsize(p) for p in paths)
    print(f"corpus: {args.documents} documents in {len(paths)} files, {size / 2**20:.1f} MiB -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
