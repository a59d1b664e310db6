"""SentencePiece BPE training at growing sample sizes and vocabularies: CPU time and peak memory, fitted.

Text: the sample's prose and code documents (benchmarks.corpus.base_documents) as training lines
(pipelines.train_tokenizer.training_lines), repeated; every copy after the first replaces each word of
3+ characters with probability 0.1 by a variant (word + a suffix drawn from a Pareto tail), so unique
words keep growing with the sample as in real corpora (Heaps' law, exponent ~0.5-0.6 here; printed).
Each point trains in its own child process (pipelines.train_tokenizer's settings, 1 thread: most of SPM's
BPE work is single-threaded) on the first S bytes of one generated file; CPU seconds and peak RSS are the
child's own (process CPU time, /proc VmHWM), so other jobs on a shared machine inflate wall time but not these figures.

Fit: CPU seconds = a * bytes^b * vocab^c (least squares in logs); peak RSS = base + k * bytes + m * vocab
(least squares). Both are extrapolated to the paper-size tokenizer (vocab 256,000; the 'full' preset's
sample, capped by its input_sentence_size lines) and recorded in results.json for docs/capacity.md and
for pipelines.tokenizer_budget (which refuses configurations that will not fit the machine).

    python -m benchmarks.tokenizer_training [--quick] [--no-record]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20
GRID = ((16, 32000), (32, 32000), (64, 32000), (128, 32000), (256, 32000),
        (64, 64000), (32, 128000), (256, 256000))       # (sample MiB, vocabulary): ~5 CPU-minutes in all
QUICK_GRID = ((2, 4000), (4, 4000), (4, 8000))
_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]{2,})")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(v: int) -> str:
    out = ""
    while True:
        v, r = divmod(v, 36)
        out = _B36[r] + out
        if not v:
            return out


def generate(path: str, size: int, marks: tuple[int, ...], seed: int = 0) -> dict[int, int]:
    """Write `size` bytes of training lines to `path`; return unique whitespace words at each mark (bytes)."""
    from benchmarks.corpus import base_documents
    from pipelines.train_tokenizer import training_lines

    lines = [line for _, text in base_documents() for line in training_lines(text, 16384)]
    parts = [_WORD.split(line) for line in lines]       # words at odd indices
    rng, unique, seen, written, pending = random.Random(seed), {}, set(), 0, sorted(marks)
    with open(path, "w", encoding="utf-8") as out:
        i = 0
        while written < size:
            k = i % len(lines)
            if i < len(lines):
                line = lines[k]
            else:
                p = list(parts[k])
                for w in range(1, len(p), 2):
                    if rng.random() < 0.1:
                        p[w] = p[w] + _b36(int(rng.random() ** -1.5))
                line = "".join(p)
            out.write(line + "\n")
            written += len(line.encode("utf-8")) + 1
            seen.update(line.split())
            while pending and written >= pending[0]:
                unique[pending.pop(0)] = len(seen)
            i += 1
    return unique


def _vm_hwm() -> int:
    """Peak RSS of this process image in bytes (/proc VmHWM: unlike getrusage's ru_maxrss, not inherited from
    the parent across fork + exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def child(text: str, size: int, spm_args: dict) -> dict:
    """Train on the first `size` bytes of `text` in this process, which imports nothing but SentencePiece (so
    its peak RSS is the training's plus the interpreter's ~10 MiB); CPU seconds and peak RSS."""
    import io

    import sentencepiece as spm

    def lines():
        used = 0
        with open(text, encoding="utf-8") as f:
            for line in f:
                used += len(line.encode("utf-8"))
                if used > size:
                    return
                yield line[:-1]

    base_rss = _vm_hwm()
    spm.set_random_generator_seed(0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=lines(), model_writer=writer, **spm_args)
    return {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
            "peak_rss_bytes": _vm_hwm(),
            "base_rss_bytes": base_rss, "model_bytes": len(writer.getvalue())}


def measure(text: str, size: int, vocab: int) -> dict:
    from pipelines.train_tokenizer import TokenizerConfig

    spm_args = TokenizerConfig(vocab_size=vocab, num_threads=1).spm_args()
    cmd = [sys.executable, __file__, "--child", text, str(size), json.dumps(spm_args, allow_nan=False)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"training {size} bytes, vocab {vocab} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(points: list[dict]) -> dict:
    """Time: log cpu = log a + b log bytes + c log vocab. Memory: rss = base + k bytes + m vocab."""
    import numpy as np

    size = np.array([p["bytes"] for p in points], float)
    vocab = np.array([p["vocab"] for p in points], float)
    cpu = np.array([p["cpu_s"] for p in points], float)
    rss = np.array([p["peak_rss_bytes"] for p in points], float)
    design = np.stack([np.ones_like(size), np.log(size), np.log(vocab)], 1)
    (log_a, b, c), *_ = np.linalg.lstsq(design, np.log(cpu), rcond=None)
    (base, k, m), *_ = np.linalg.lstsq(np.stack([np.ones_like(size), size, vocab], 1), rss, rcond=None)
    time_pred = np.exp(design @ [log_a, b, c])
    mem_pred = base + k * size + m * vocab
    return {"time_log_a": float(log_a), "time_bytes_exp": float(b), "time_vocab_exp": float(c),
            "mem_base_bytes": float(base), "mem_per_sample_byte": float(k), "mem_per_vocab_piece": float(m),
            "time_max_rel_error": float(np.max(np.abs(time_pred / cpu - 1))),
            "mem_max_rel_error": float(np.max(np.abs(mem_pred / rss - 1)))}


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])), allow_nan=False))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokenizer_training",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2-4 MiB samples, vocab 4000-8000 (CI smoke, < 1 min)")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write benchmarks/RESULTS.md and benchmarks/results.json")
    args = parser.parse_args(argv)
    from pipelines import tokenizer_budget
    from pipelines.train_tokenizer import FULL

    grid = QUICK_GRID if args.quick else GRID
    sizes = sorted({mib * MiB for mib, _ in grid})
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tokenizer-training-") as tmp:
        text = os.path.join(tmp, "sample.txt")
        unique = generate(text, sizes[-1], tuple(sizes))
        generate_s = time.perf_counter() - start
        points = []
        for mib, vocab in grid:
            point = dict(measure(text, mib * MiB, vocab), bytes=mib * MiB, vocab=vocab, unique_words=unique[mib * MiB])
            points.append(point)
            print(f"{mib:>5} MiB  vocab {vocab:>6,}  unique words {point['unique_words']:>9,}  "
                  f"cpu {point['cpu_s']:7.1f} s  wall {point['wall_s']:7.1f} s  "
                  f"peak RSS {point['peak_rss_bytes'] / MiB:7.0f} MiB", flush=True)
    total_s = time.perf_counter() - start
    model = fit(points)
    budget = tokenizer_budget.Budget.from_fit(model)
    full_bytes = tokenizer_budget.effective_sample_bytes(FULL.sample_bytes, FULL.input_sentence_size)
    full_mem, full_cpu = budget.memory(full_bytes, FULL.vocab_size), budget.cpu_seconds(full_bytes, FULL.vocab_size)
    machine = tokenizer_budget.machine_for(full_mem)
    print(f"fit: cpu s = {model['time_log_a']:.3f} exp * bytes^{model['time_bytes_exp']:.3f} * "
          f"vocab^{model['time_vocab_exp']:.3f} (max error {model['time_max_rel_error']:.0%}); peak RSS = "
          f"{model['mem_base_bytes'] / MiB:.0f} MiB + {model['mem_per_sample_byte']:.2f} x bytes + "
          f"{model['mem_per_vocab_piece'] / 1024:.1f} KiB x vocab (max error {model['mem_max_rel_error']:.0%})")
    print(f"paper size (vocab {FULL.vocab_size:,}, {full_bytes / 2**30:.2f} GiB of lines): "
          f"~{full_mem / 2**30:.0f} GiB peak, ~{full_cpu / 3600:.1f} h on one core -> {machine}")
    print(f"measured in {total_s / 60:.1f} min ({generate_s:.0f} s generating), load average "
          f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    if args.no_record:
        return 0
    from benchmarks import results

    results.merge_results({"tokenizer_training_fit": model, "tokenizer_training_points": points,
                           "tokenizer_full_bytes": full_bytes, "tokenizer_full_vocab": FULL.vocab_size})
    rows = "\n".join(
        f"| {p['bytes'] // MiB} | {p['vocab']:,} | {p['unique_words']:,} | {p['cpu_s']:.1f} | {p['wall_s']:.1f} | "
        f"{p['peak_rss_bytes'] / MiB:,.0f} |" for p in points)
    title = "## SentencePiece BPE training at growing size (benchmarks/tokenizer_training.py)"
    results.append_section(f"""{title} - {results.today()}

Command: `nice -n 10 python -m benchmarks.tokenizer_training{' --quick' if args.quick else ''}`. Machine:
{results.machine()}, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after (shared: CPU seconds
and RSS are the training child's own, wall is inflated by other jobs). {total_s / 60:.1f} min in all.

| sample MiB | vocab | unique words | CPU s | wall s | peak RSS MiB |
|---:|---:|---:|---:|---:|---:|
{rows}

Fit: CPU s = e^{model['time_log_a']:.2f} x bytes^{model['time_bytes_exp']:.2f} x vocab^{model['time_vocab_exp']:.2f}
(max error {model['time_max_rel_error']:.0%} on these points); peak RSS = {model['mem_base_bytes'] / MiB:.0f} MiB +
{model['mem_per_sample_byte']:.2f} x sample bytes + {model['mem_per_vocab_piece'] / 1024:.1f} KiB x vocab
(max error {model['mem_max_rel_error']:.0%}). Paper size (vocab {FULL.vocab_size:,}, the 'full' preset's
{full_bytes / 2**30:.2f} GiB of lines): ~{full_mem / 2**30:.0f} GiB peak, ~{full_cpu / 3600:.1f} h CPU -> {machine}.
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
