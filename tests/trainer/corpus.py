"""A tiny real token corpus for trainer tests: ArrayRecord shards + manifests + a contract mixture.json.

Token ids are written directly with tokens.records.encode_example (no tokenizer needed); documents have
learnable structure so a tiny model's loss visibly falls: "code" documents count upwards from a random start
with a per-document stride, "text" documents repeat a short random phrase. Every document ends with EOS (2).
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

VOCAB = 64
EOS = 2
TOKENIZER_SHA = hashlib.sha256(b"trainer-test-tokenizer").hexdigest()


def code_document(rng: np.random.Generator) -> list[int]:
    start, stride, n = int(rng.integers(3, VOCAB)), int(rng.integers(1, 3)), int(rng.integers(4, 40))
    return [3 + (start + stride * k) % (VOCAB - 3) for k in range(n)] + [EOS]


def text_document(rng: np.random.Generator) -> list[int]:
    phrase = rng.integers(3, VOCAB, size=int(rng.integers(2, 5))).tolist()
    return (phrase * int(rng.integers(2, 10)))[: 60] + [EOS]


def _write_shard(out: str, name: str, source: str, docs: list[list[int]], sidecars: bool, corrupt_at=None):
    from array_record.python.array_record_module import ArrayRecordWriter
    from tokens import lengths as lengths_sidecar
    from tokens.manifest import Shard
    from tokens.records import encode_example

    writer = ArrayRecordWriter(os.path.join(out, name), "group_size:1")
    for i, doc in enumerate(docs):
        writer.write(b"\xff\xfe not a record" if i == corrupt_at else encode_example(doc, source))
    writer.close()
    sidecar = lengths_sidecar.sidecar_name(name) if sidecars else None
    if sidecar:
        with open(os.path.join(out, sidecar), "wb") as f:
            f.write(lengths_sidecar.encode([len(d) for d in docs]))
    return Shard(name, len(docs), sum(len(d) for d in docs), sidecar)


def write_source(tokens_dir: str, source: str, documents: list[list[int]], shards: int = 2,
                 corrupt: int | None = None, sidecars: bool = True, tokenizer: dict | None = None,
                 heldout: list[list[int]] | None = None) -> str:
    """Write TOKENS/<source>/part-*.array_record (+ part-*.lengths sidecars named in the manifest, as the
    tokenize job writes them, unless `sidecars` is False: an older manifest) + manifest.json; `corrupt`
    replaces that record's bytes. `tokenizer`: the manifest's tokenizer entry (default: the fake 64-id one);
    `heldout`: documents for one heldout-00000-of-00001 shard listed apart, as tokenize's held-out split."""
    from tokens.manifest import Manifest, write_manifest

    out = os.path.join(tokens_dir, source)
    os.makedirs(out, exist_ok=True)
    bounds = np.linspace(0, len(documents), shards + 1).astype(int)
    shard_meta = []
    for s in range(shards):
        corrupt_at = None if corrupt is None else corrupt - int(bounds[s])
        shard_meta.append(_write_shard(out, f"part-{s:05d}-of-{shards:05d}.array_record", source,
                                       documents[bounds[s]:bounds[s + 1]], sidecars, corrupt_at))
    held = (_write_shard(out, "heldout-00000-of-00001.array_record", source, heldout, sidecars),) if heldout else ()
    lengths = sorted(len(d) for d in documents)
    manifest = Manifest(
        source=source, tokenizer=tokenizer or {"sha256": TOKENIZER_SHA, "vocab_size": VOCAB, "eos_id": EOS,
                                               "pad_id": 0, "path": "test"},
        shards=tuple(shard_meta), documents=len(documents), tokens=sum(lengths),
        length_histogram={"min": lengths[0], "median": lengths[len(lengths) // 2],
                          "p99": lengths[int(0.99 * (len(lengths) - 1))], "max": lengths[-1]},
        config_hash="test", code_version="test", created_by="tests/trainer/corpus.py", heldout=held)
    write_manifest(out, manifest)
    return os.path.join(out, "manifest.json")


def make_mixture(root: str, documents: int = 200, weights: dict[str, float] | None = None, seq_len: int = 32,
                 schedule: dict | None = None, stage: str = "pretrain", seed: int = 0,
                 corrupt: dict[str, int] | None = None, name: str = "test-mix",
                 total_tokens: int | None = None, heldout: int = 0, tokenizer: dict | None = None,
                 documents_by_source: dict[str, list[list[int]]] | None = None) -> str:
    """Write a two-source corpus under root/tokens and root/mix/mixture.json; return the mixture path.

    `heldout`: that many more documents per source in a held-out shard listed apart (tokenize's split);
    `tokenizer` + `documents_by_source`: real token ids of a real tokenizer instead of the synthetic ones."""
    from tokens.manifest import load_manifest

    weights = weights or {"code": 0.5, "text": 0.5}
    makers = {"code": code_document, "text": text_document}
    sources, total = {}, 0
    for i, (source, weight) in enumerate(sorted(weights.items())):
        rng = np.random.default_rng(1000 + i)
        if documents_by_source:
            docs, held = documents_by_source[source][:documents], documents_by_source[source][documents:]
        else:
            docs = [makers[source](rng) for _ in range(documents + heldout)]
            docs, held = docs[:documents], docs[documents:]
        manifest = write_source(os.path.join(root, "tokens"), source, docs,
                                corrupt=(corrupt or {}).get(source), tokenizer=tokenizer, heldout=held)
        available = sum(len(d) for d in docs)
        sources[source] = {"weight": weight, "target_tokens": int(weight * available),
                           "available_tokens": available, "documents": documents, "epochs": 1.0,
                           "manifest": manifest, "shards": load_manifest(manifest).shard_paths}
        total += int(weight * available)
    mixture = {"format_version": 1, "name": name, "stage": stage, "init_from": None,
               "schedule": schedule or {"kind": "cosine", "warmup_steps": 5},
               "total_tokens": total_tokens or total, "seq_len": seq_len, "seed": seed,
               "tokenizer_sha256": (tokenizer or {}).get("sha256", TOKENIZER_SHA),
               "vocab_size": (tokenizer or {}).get("vocab_size", VOCAB), "command": "tests/trainer/corpus.py",
               "sources": sources}
    os.makedirs(os.path.join(root, "mix"), exist_ok=True)
    path = os.path.join(root, "mix", "mixture.json")
    with open(path, "w") as f:
        json.dump(mixture, f, indent=2)
    return path
