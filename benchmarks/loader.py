"""Trainer input pipeline throughput: packed tokens per CPU-second of trainer.data vs raw ArrayRecord reads.

Fixture: three sources (code, text, math) of ArrayRecord shards written with tokens.records.encode_example
and tokens.manifest.write_manifest, log-normal document lengths (medians 400 / 700 / 250 tokens, tails to
16k), Zipf-like ids from a 32,000-token vocabulary; full mode >= 5M tokens, --quick ~0.4M. A contract
mixture.json (weights 0.5 / 0.35 / 0.15) over them is validated with mixer.mixture.validate_mixture.

Measured in one process, interleaved in every repeat, on the same shards:
  loader   trainer.data.make_train_iterator (host slice -> SamplingPlan with token feedback -> checked
           TokenizedSource reads -> packing into host batches -> Grain prefetch thread)
  raw      the same (source, document) picks, precomputed, read one record at a time with
           ArrayRecordReader.read([i]) + tokens.records.decode_tokens: no plan, no checks, no packing
  seq      every record of every shard read in chunks of 1024 + decode_tokens (the cheapest possible read)
  grain    a Grain-native pipeline on the same shards: per source ArrayRecordDataSource -> MapDataset
           shuffle -> repeat -> decode, MapDataset.mix by document rates (w_s / mean length), then
           ConcatThenSplitIterDataset packing and batch (the peer the loader was chosen over)
"Per CPU-second" = tokens / process CPU seconds (all threads), so other jobs on a shared machine count
against neither side; the loader/raw ratio is taken per repeat (adjacent runs) and its median reported.
Realised token shares of the loader's and Grain's packed streams are compared with the weights per window.

    python -m benchmarks.loader [--quick] [--seq-len 2048] [--batch 8] [--repeats N] [--no-record]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

import numpy as np

VOCAB = 32_000
EOS = 2
SOURCES = {  # name: (weight, median tokens per document, log-normal sigma)
    "code": (0.50, 400, 1.1),
    "math": (0.15, 250, 0.8),
    "text": (0.35, 700, 0.9),
}
SHARDS_PER_SOURCE = 4
TOKENIZER_SHA = hashlib.sha256(b"benchmarks.loader synthetic tokenizer").hexdigest()


def document_lengths(rng: np.random.Generator, tokens: int, median: int, sigma: float) -> list[int]:
    lengths, total = [], 0
    while total < tokens:
        n = int(np.clip(rng.lognormal(np.log(median), sigma), 8, 16_000))
        lengths.append(n)
        total += n
    return lengths


def zipf_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ids with a Zipf-like rank distribution (most 2-byte varints, as with a real BPE vocabulary)."""
    ranks = np.minimum(rng.zipf(1.2, size=n), VOCAB - 4)
    return (ranks + 2).astype(np.int64)


def write_fixture(root: str, tokens_per_source: dict[str, int], seed: int = 0) -> dict:
    """TOKENS/<source>/part-*.array_record + manifest.json per source; returns a validated mixture dict."""
    from array_record.python.array_record_module import ArrayRecordWriter

    from mixer.mixture import validate_mixture
    from tokens.manifest import Manifest, Shard, write_manifest
    from tokens.records import encode_example
    from tokens.shards import write_lengths

    rng = np.random.default_rng(seed)
    entries = {}
    for name, (weight, median, sigma) in sorted(SOURCES.items()):
        lengths = document_lengths(rng, tokens_per_source[name], median, sigma)
        out = os.path.join(root, "tokens", name)
        os.makedirs(out)
        bounds = np.linspace(0, len(lengths), SHARDS_PER_SOURCE + 1).astype(int)
        shards = []
        for s in range(SHARDS_PER_SOURCE):
            shard_name = f"part-{s:05d}-of-{SHARDS_PER_SOURCE:05d}.array_record"
            writer = ArrayRecordWriter(os.path.join(out, shard_name), "group_size:1")
            shard_lengths = lengths[bounds[s]:bounds[s + 1]]
            for n in shard_lengths:
                ids = zipf_ids(rng, n)
                ids[-1] = EOS
                writer.write(encode_example(ids, name))
            writer.close()
            sidecar = write_lengths(os.path.join(out, shard_name), shard_lengths)
            shards.append(Shard(shard_name, len(shard_lengths), int(sum(shard_lengths)),
                                os.path.basename(sidecar)))
        ordered = sorted(lengths)
        manifest = Manifest(
            source=name, tokenizer={"sha256": TOKENIZER_SHA, "vocab_size": VOCAB, "eos_id": EOS, "pad_id": 0,
                                    "path": "synthetic"},
            shards=tuple(shards), documents=len(lengths), tokens=int(sum(lengths)),
            length_histogram={"min": ordered[0], "median": ordered[len(ordered) // 2],
                              "p99": ordered[int(0.99 * (len(ordered) - 1))], "max": ordered[-1]},
            config_hash="benchmark", code_version="benchmark", created_by="python -m benchmarks.loader")
        write_manifest(out, manifest)
        path = os.path.join(out, "manifest.json")
        entries[name] = {"weight": weight, "target_tokens": int(weight * sum(lengths)),
                         "available_tokens": int(sum(lengths)), "documents": len(lengths), "epochs": 1.0,
                         "manifest": path, "shards": [os.path.join(out, s.path) for s in shards]}
    mixture = {"format_version": 1, "name": "loader-benchmark", "stage": "pretrain", "init_from": None,
               "schedule": {"kind": "cosine", "warmup_steps": 10},
               "total_tokens": sum(tokens_per_source.values()), "seq_len": 2048, "seed": 0,
               "tokenizer_sha256": TOKENIZER_SHA, "vocab_size": VOCAB, "command": "python -m benchmarks.loader",
               "sources": entries}
    return validate_mixture(mixture, "loader-benchmark")


class Clock:
    """Wall and process-CPU seconds (all threads) of a block."""

    def __enter__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def run_loader(mixture: dict, seq_len: int, batch: int, tokens: int) -> dict:
    """Pull batches until `tokens` non-padding tokens have arrived."""
    from trainer.data import DataConfig, make_train_iterator

    cfg = DataConfig(seq_len=seq_len, global_batch=batch)
    it = make_train_iterator(mixture, cfg)
    next(it)  # opens shards and starts the prefetch thread outside the timed region
    got = rows = padding = 0
    sources = []
    with Clock() as clock:
        while got < tokens:
            b = next(it)
            real = int(np.count_nonzero(b["segment_ids"]))
            got += real
            padding += b["segment_ids"].size - real
            rows += b["segment_ids"].shape[0]
            sources.append(b["source_ids"])
    return {"tokens": got, "rows": rows, "padding_fraction": padding / (got + padding),
            "wall_s": clock.wall, "cpu_s": clock.cpu, "source_ids": sources}


def grain_pipeline(mixture: dict, seq_len: int, batch: int):
    """The Grain-native peer: per-source shuffle + repeat + decode, document-rate mix, concat-then-split packing."""
    import grain.python as gp
    from grain import experimental as gx

    from tokens.records import decode_tokens

    names = sorted(mixture["sources"])
    datasets, weights = [], []
    for sid, name in enumerate(names):
        entry = mixture["sources"][name]
        source = gp.ArrayRecordDataSource(entry["shards"])

        def to_example(record, sid=sid):
            ids = decode_tokens(record)
            return {"tokens": ids, "sources": np.full(ids.size, sid, np.int32)}

        datasets.append(gp.MapDataset.source(source).shuffle(seed=sid).repeat().map(to_example))
        weights.append(entry["weight"] * entry["documents"] / entry["available_tokens"])   # document rates
    mixed = gp.MapDataset.mix(datasets, weights).to_iter_dataset()
    packed = gx.ConcatThenSplitIterDataset(mixed, length_struct={"tokens": seq_len + 1, "sources": seq_len + 1})
    return iter(packed.batch(batch))


def run_grain(mixture: dict, seq_len: int, batch: int, tokens: int) -> dict:
    it = grain_pipeline(mixture, seq_len, batch)
    next(it)
    got = 0
    sources = []
    with Clock() as clock:
        while got < tokens:
            b = next(it)
            got += int(np.count_nonzero(b["tokens_segment_ids"]))
            sources.append(np.where(b["tokens_segment_ids"] > 0, b["sources"], -1))
    return {"tokens": got, "wall_s": clock.wall, "cpu_s": clock.cpu, "source_ids": sources}


def share_error(mixture: dict, source_ids: list[np.ndarray], window: int = 1_000_000) -> float:
    """Largest |realised token share - weight| in points over consecutive windows of `window` tokens."""
    names = sorted(mixture["sources"])
    ids = np.concatenate([s.ravel() for s in source_ids])
    ids = ids[ids >= 0]
    worst = 0.0
    for begin in range(0, ids.size - window + 1, window):
        counts = np.bincount(ids[begin:begin + window], minlength=len(names))
        worst = max(worst, max(abs(counts[i] / window - mixture["sources"][n]["weight"]) * 100
                               for i, n in enumerate(names)))
    return worst


def planned_picks(mixture: dict, seq_len: int, batch: int, tokens: int) -> list[tuple[int, int]]:
    """The (source id, document) picks the loader's plan makes for about `tokens` tokens (untimed)."""
    from mixer.sampling_plan import SamplingPlan
    from tokens.source import TokenizedSource
    from trainer.data import DataConfig, training_mixture

    cfg = DataConfig(seq_len=seq_len, global_batch=batch)
    # The same token-feedback plan the loader builds (trainer.data.document_lengths), so both sides
    # read the same documents in the same order.
    lengths = {name: TokenizedSource.open(e["manifest"], verify=False).lengths()
               for name, e in mixture["sources"].items()}
    plan = SamplingPlan(training_mixture(mixture, cfg.eval_documents), seed=cfg.seed,
                        doc_tokens=lambda name, index: int(lengths[name][index]))
    names = {name: i for i, name in enumerate(plan.sources)}
    picks, total = [], 0
    while total < tokens:
        name, index = plan.next()
        picks.append((names[name], index))
        total += int(lengths[name][index])
    return picks


def open_raw(mixture: dict) -> list[list]:
    from array_record.python.array_record_module import ArrayRecordReader

    from tokens.source import RANDOM_ACCESS_OPTIONS
    return [[ArrayRecordReader(p, RANDOM_ACCESS_OPTIONS) for p in mixture["sources"][name]["shards"]]
            for name in sorted(mixture["sources"])]


def run_raw(mixture: dict, picks: list[tuple[int, int]]) -> dict:
    """Read the same picks as bare records: locate shard, read([i]), decode_tokens. Nothing else."""
    import bisect

    from tokens.records import decode_tokens

    readers = open_raw(mixture)
    offsets = []
    for name in sorted(mixture["sources"]):
        counts = [r.num_records() for r in readers[len(offsets)]]
        offsets.append(np.cumsum([0] + counts).tolist())
    got = 0
    with Clock() as clock:
        for sid, index in picks:
            shard = bisect.bisect_right(offsets[sid], index) - 1
            record = readers[sid][shard].read([index - offsets[sid][shard]])[0]
            got += decode_tokens(record).size
    for group in readers:
        for r in group:
            r.close()
    return {"tokens": got, "documents": len(picks), "wall_s": clock.wall, "cpu_s": clock.cpu}


def run_sequential(mixture: dict) -> dict:
    from tokens.records import decode_tokens

    readers = open_raw(mixture)
    got = 0
    with Clock() as clock:
        for group in readers:
            for r in group:
                n = r.num_records()
                for begin in range(0, n, 1024):
                    for record in r.read(list(range(begin, min(n, begin + 1024)))):
                        got += decode_tokens(record).size
    for group in readers:
        for r in group:
            r.close()
    return {"tokens": got, "wall_s": clock.wall, "cpu_s": clock.cpu}


def per_core(r: dict) -> float:
    return r["tokens"] / r["cpu_s"]


def per_wall(r: dict) -> float:
    return r["tokens"] / r["wall_s"]


def measure_child(mixture_path: str, tokens: int, seq_len: int, batch: int) -> dict:
    """One loader run and one raw run with whatever trainer/tokens code is first on sys.path (--compare-with)."""
    with open(mixture_path) as f:
        mixture = json.load(f)
    picks = planned_picks(mixture, seq_len, batch, tokens)
    loader, raw = run_loader(mixture, seq_len, batch, tokens), run_raw(mixture, picks)
    return {"loader": per_core(loader), "raw": per_core(raw)}


def compare(mixture: dict, tmp: str, other: str, repeats: int, tokens: int, seq_len: int, batch: int) -> dict:
    """Alternate child processes running this tree's code and `other`'s on the same fixture (before/after)."""
    import subprocess

    path = os.path.join(tmp, "mixture.json")
    with open(path, "w") as f:
        json.dump(mixture, f, allow_nan=False)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(repeats):
        for label, tree in (("before", other), ("after", here)):
            code = (f"import sys, json; sys.path.insert(0, {tree!r}); import runpy; "
                    f"m = runpy.run_path({os.path.abspath(__file__)!r}); "
                    f"print(json.dumps(m['measure_child']({path!r}, {tokens}, {seq_len}, {batch})))")
            env = dict(os.environ, PYTHONPATH=tree)
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="~0.4M-token fixture, ~0.2M tokens measured (CI smoke, < 1 minute); default: 6M / 4M")
    parser.add_argument("--seq-len", type=int, default=2048, help="packed row length L in tokens (default 2048)")
    parser.add_argument("--batch", type=int, default=8, help="rows per batch B (default 8)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved measurements of every path (default 1 quick, 5 full)")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write benchmarks/RESULTS.md and benchmarks/results.json")
    parser.add_argument("--compare-with", metavar="DIR", default=None,
                        help="another checkout (e.g. a worktree of the previous commit): its loader and raw read "
                             "are measured in child processes alternating with this tree's (before/after)")
    args = parser.parse_args(argv)
    from benchmarks import results

    total = 400_000 if args.quick else 6_000_000
    measured = 200_000 if args.quick else 4_000_000
    repeats = args.repeats or (1 if args.quick else 5)
    load_before = results.load_avg()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        mixture = write_fixture(tmp, {n: int(total * w) for n, (w, _, _) in SOURCES.items()})
        build_s = time.perf_counter() - start
        docs = sum(e["documents"] for e in mixture["sources"].values())
        tokens = sum(e["available_tokens"] for e in mixture["sources"].values())
        picks = planned_picks(mixture, args.seq_len, args.batch, measured)
        runs: dict[str, list[dict]] = {"loader": [], "raw": [], "seq": [], "grain": []}
        for _ in range(repeats):  # interleaved, so a busy spell on a shared machine hits every path alike
            runs["loader"].append(run_loader(mixture, args.seq_len, args.batch, measured))
            runs["raw"].append(run_raw(mixture, picks))
            runs["seq"].append(run_sequential(mixture))
            runs["grain"].append(run_grain(mixture, args.seq_len, args.batch, measured // 4))
        versus = (compare(mixture, tmp, args.compare_with, repeats, measured // 2, args.seq_len, args.batch)
                  if args.compare_with else None)
        window = 1_000_000 if not args.quick else 50_000
        loader_error = share_error(mixture, runs["loader"][0]["source_ids"], window)
        grain_error = share_error(mixture, runs["grain"][0]["source_ids"], window)
    ratios = sorted(per_core(a) / per_core(b) for a, b in zip(runs["loader"], runs["raw"]))
    grain_ratios = sorted(per_core(a) / per_core(b) for a, b in zip(runs["grain"], runs["raw"]))
    ratio, grain_ratio = ratios[len(ratios) // 2], grain_ratios[len(grain_ratios) // 2]
    loader, raw, seq, grain = (max(runs[k], key=per_core) for k in ("loader", "raw", "seq", "grain"))
    load_after = results.load_avg()
    print(f"fixture: {docs:,} documents, {tokens:,} tokens, 3 sources x {SHARDS_PER_SOURCE} shards "
          f"(written in {build_s:.1f} s); {load_before} before, {load_after} after")
    for label, r in (("loader", loader), ("raw (same picks)", raw), ("raw sequential", seq), ("grain-native", grain)):
        print(f"{label:<18} {r['tokens']:>10,} tokens  {per_core(r) / 1e6:6.2f} M tokens/CPU-s (best of {repeats})  "
              f"{per_wall(r) / 1e6:6.2f} M tokens/s wall")
    print(f"loader / raw per repeat: {', '.join(f'{r:.2f}' for r in ratios)} -> median {ratio:.2f}x (target >= 0.8x); "
          f"grain-native / raw median {grain_ratio:.2f}x")
    print(f"token shares per {window:,}-token window: loader max error {loader_error:.2f} points, grain-native "
          f"{grain_error:.2f} points (document-rate mixing); padding {loader['padding_fraction']:.2%}")
    before_after = ""
    if versus:
        def med(label, key):
            values = sorted(r[key] for r in versus[label])
            return values[len(values) // 2]

        def per_repeat(label):
            return ", ".join(f"{r['loader'] / r['raw']:.2f}" for r in versus[label])

        before_after = (f"Before/after (`--compare-with {args.compare_with}`, {repeats} alternating child processes, "
                        f"{measured // 2:,} tokens each, medians): before loader {med('before', 'loader') / 1e6:.2f} / "
                        f"raw {med('before', 'raw') / 1e6:.2f} M tokens/CPU-s (ratios {per_repeat('before')}); after "
                        f"loader {med('after', 'loader') / 1e6:.2f} / raw {med('after', 'raw') / 1e6:.2f} "
                        f"(ratios {per_repeat('after')}); loader after / before "
                        f"{med('after', 'loader') / med('before', 'loader'):.2f}x, after loader / before raw "
                        f"{med('after', 'loader') / med('before', 'raw'):.2f}x.\n")
        print(before_after)
    if args.no_record:
        return 0
    command = "python -m benchmarks.loader" + (" --quick" if args.quick else "") + (
        f" --compare-with {args.compare_with}" if args.compare_with else "")
    results.merge_results({
        "loader_tokens_per_s_per_core": round(per_core(loader)),
        "loader_raw_tokens_per_s_per_core": round(per_core(raw)),
        "loader_sequential_tokens_per_s_per_core": round(per_core(seq)),
        "loader_grain_native_tokens_per_s_per_core": round(per_core(grain)),
        "loader_vs_raw_ratio": round(ratio, 3),
    })
    section = f"""## Trainer input pipeline (benchmarks/loader.py) - {results.today()}

Command: `{command}`. Machine: {results.machine()} ({load_before} before, {load_after} after: shared machine).
Fixture: {docs:,} documents / {tokens:,} tokens in 3 sources x {SHARDS_PER_SOURCE} ArrayRecord shards, log-normal
lengths, vocabulary {VOCAB:,}. Batches B={args.batch} x L={args.seq_len}; {repeats} interleaved repeats of every path;
per CPU-second = tokens / process CPU seconds (every thread of the process); best repeat shown per path.

| path | tokens | M tokens/CPU-s | M tokens/s wall | vs raw |
|---|---:|---:|---:|---:|
| trainer.data loader (host slice + plan + checked reads + packing + Grain prefetch) | {loader['tokens']:,} | {per_core(loader) / 1e6:.2f} | {per_wall(loader) / 1e6:.2f} | {ratio:.2f}x (median) |
| raw: same picks, ArrayRecordReader.read([i]) + decode_tokens | {raw['tokens']:,} | {per_core(raw) / 1e6:.2f} | {per_wall(raw) / 1e6:.2f} | 1.00x |
| raw sequential: read 1024 at a time + decode_tokens | {seq['tokens']:,} | {per_core(seq) / 1e6:.2f} | {per_wall(seq) / 1e6:.2f} | {per_core(seq) / per_core(raw):.2f}x |
| Grain-native: MapDataset shuffle/mix by document rates + ConcatThenSplit packing | {grain['tokens']:,} | {per_core(grain) / 1e6:.2f} | {per_wall(grain) / 1e6:.2f} | {grain_ratio:.2f}x (median) |

Loader / raw per repeat: {', '.join(f'{r:.2f}' for r in ratios)} (target >= 0.8x: {'met' if ratio >= 0.8 else 'MISSED'}).
Token shares per {window:,}-token window: loader max error {loader_error:.2f} points (token feedback), Grain-native
{grain_error:.2f} points (document-rate mixing). Padding {loader['padding_fraction']:.2%} of row slots.
{before_after}"""
    results.append_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
