"""Decode speed of token records: full protobuf parse vs the compiled wire decoder (tokens/records_jit.py).

    python -m benchmarks.records_decode [--quick]

Records are what pipelines.tokenize writes (tf.train.Example, int64 "text" + bytes
"source"), with ids drawn Zipf-like from a 256k vocabulary so varints have the
realistic mix of 1-3 bytes. Also times random access through TokenizedSource over
an ArrayRecord shard (decode + range check + reader). Prints a table; results are
recorded in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from tokens import records
from tokens.source import TokenizedSource
from tokens import shards
from tokens.manifest import Manifest, Shard, write_manifest


def _make_records(n_docs: int, length: int, vocab: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_docs):
        ids = np.minimum(rng.zipf(1.2, length), vocab - 1)
        ids[-1] = 2
        out.append(records.encode_example(ids, "code"))
    return out


def _rate(fn, recs: list[bytes], min_seconds: float) -> tuple[float, float]:
    """(records/s, tokens/s) over repeated passes lasting at least `min_seconds` (after one warm-up call: the
    compiled decoder loads on first use)."""
    fn(recs[0])
    passes, tokens, start = 0, 0, time.perf_counter()
    while True:
        for rec in recs:
            tokens += len(fn(rec))
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return passes * len(recs) / elapsed, tokens / elapsed


def _random_access(recs: list[bytes], vocab: int, reads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        name = shards.shard_name(0, 1)
        shards.write_shard(os.path.join(tmp, name), recs)
        tokens = sum(len(records.decode_tokens(r)) for r in recs)
        write_manifest(tmp, Manifest(
            source="code", tokenizer={"sha256": "0" * 64, "vocab_size": vocab, "eos_id": 2, "pad_id": 0},
            shards=(Shard(name, len(recs), tokens),), documents=len(recs), tokens=tokens,
            length_histogram={}, config_hash="bench", code_version="bench"))
        src = TokenizedSource.open(tmp)
        order = np.random.default_rng(1).integers(0, len(recs), reads)
        start = time.perf_counter()
        for i in order:
            src[int(i)]
        rate = reads / (time.perf_counter() - start)
        src.close()
        return rate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer records and 0.3 s per measurement")
    parser.add_argument("--vocab", type=int, default=256000, help="vocabulary size (ids < vocab)")
    args = parser.parse_args(argv)
    n_docs, seconds, reads = (200, 0.3, 2000) if args.quick else (2000, 2.0, 20000)
    print(f"{'tokens/doc':>10} {'path':<22} {'records/s':>12} {'tokens/s':>14} {'speedup':>8}")
    for length in (64, 1024, 8192):
        recs = _make_records(n_docs if length < 8192 else max(20, n_docs // 10), length, args.vocab)
        full = _rate(lambda r: records.decode_example(r)[0], recs, seconds)
        fast = _rate(records.decode_tokens, recs, seconds)
        print(f"{length:>10} {'protobuf parse':<22} {full[0]:>12,.0f} {full[1]:>14,.0f} {'1.00x':>8}")
        print(f"{length:>10} {'decode_tokens (jit)':<22} {fast[0]:>12,.0f} {fast[1]:>14,.0f} "
              f"{fast[0] / full[0]:>7.2f}x")
        ra = _random_access(recs, args.vocab, reads)
        print(f"{length:>10} {'TokenizedSource[i]':<22} {ra:>12,.0f} {ra * length:>14,.0f} {'':>8}")


if __name__ == "__main__":
    main()
