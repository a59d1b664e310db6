"""Capacity plan for the paper's full corpora, from our measured throughputs.

    python -m benchmarks.capacity            # reads benchmarks/results.json, writes docs/capacity.md

Every per-core rate comes from `benchmarks/results.json`, which the benchmarks write next
to `benchmarks/RESULTS.md` (the same numbers, with the command and machine that measured
them). Corpus sizes are the paper's (docs/paper.md, "Sources and sizes"); the assumptions that turn
tokens into documents are stated in the output.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

# Tokens after filtering, from the paper (docs/paper.md, "Sources and sizes").
CORPUS_TOKENS = {"text": 503e9, "code": 139e9, "markup": 180e9, "adjacent": 21.4e9, "synthetic": 3.2e9}
# Assumed mean tokens per document (ours): SlimPajama is 627B tokens in ~590M documents;
# The Stack's permissive files average ~1.2k tokens; adjacent threads/commits ~700; synthetic ~300.
TOKENS_PER_DOC = {"text": 1060, "code": 1200, "markup": 1500, "adjacent": 700, "synthetic": 300}
# Raw input is larger than what survives filtering + dedup (paper: 627B -> 503B for text); we assume
# curation reads 1.6x the kept documents across sources (filters + duplicates), stated, not measured.
RAW_OVER_KEPT = 1.6
PRETRAIN_TOKENS = 200e9
# Hand-written sections (full-size memory measurements and their commands) start at this heading;
# regeneration keeps them.
REQUIRED = ("curate_docs_per_s_per_core", "tokenize_tokens_per_s_per_core",
            "dedup_shuffle_bytes_per_doc", "arrayrecord_bytes_per_token")


def load_results(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    missing = [k for k in REQUIRED if k not in results]
    if missing:
        raise SystemExit(f"{path} lacks {', '.join(missing)}: run the benchmarks that record them "
                         "(benchmarks/RESULTS.md lists the commands)")
    return results


def training_cost(config: str, tokens: float, mfu: float) -> dict:
    """trainer.flops.cost for a preset: the one computation --dry-run prints too."""
    from trainer.configs import get_config
    from trainer.flops import cost

    return cost(config, get_config(config).model, tokens, mfu)


def tokenizer_section(results: dict) -> list[str]:
    """Paper-size SentencePiece training from the fit benchmarks/tokenizer_training.py recorded (if it ran)."""
    fit = results.get("tokenizer_training_fit")
    if not fit:
        return []
    from pipelines import tokenizer_budget
    from pipelines.train_tokenizer import FULL

    budget = tokenizer_budget.Budget.from_fit(fit)
    points = results.get("tokenizer_training_points", [])
    largest = max(points, key=lambda p: (p["bytes"], p["vocab"])) if points else None
    lines = ["", "## Tokenizer at full size (SentencePiece BPE, one machine)", "",
             "| sample SentencePiece loads | vocab | peak memory | CPU time (one core) | machine |",
             "|---|---:|---:|---:|---|"]
    loaded = tokenizer_budget.effective_sample_bytes(FULL.sample_bytes, FULL.input_sentence_size)
    for label, size in ((f"'full' preset: first {FULL.input_sentence_size / 1e6:.0f}M lines "
                         f"(~{loaded / 2**30:.2f} GiB)", loaded),
                        (f"the whole {FULL.sample_bytes / 2**30:.0f} GiB sample (--input-sentence-size 0)",
                         float(FULL.sample_bytes))):
        memory, hours = budget.memory(size, FULL.vocab_size), budget.cpu_seconds(size, FULL.vocab_size) / 3600
        lines.append(f"| {label} | {FULL.vocab_size:,} | {memory / 2**30:,.1f} GiB | {hours:,.2f} h | "
                     f"{tokenizer_budget.machine_for(memory)} |")
    span = f" up to {largest['bytes'] >> 20} MiB and vocab {max(p['vocab'] for p in points):,}" if largest else ""
    lines += ["", f"Fit (benchmarks/tokenizer_training.py, {len(points)} points{span}"
              + f"): CPU s = e^{fit['time_log_a']:.2f} x bytes^{fit['time_bytes_exp']:.2f} x "
              f"vocab^{fit['time_vocab_exp']:.2f} (worst point {fit['time_max_rel_error']:.0%}); peak RSS = "
              f"{fit['mem_base_bytes'] / 2**20:.0f} MiB + {fit['mem_per_sample_byte']:.2f} x bytes + "
              f"{fit['mem_per_vocab_piece']:.0f} B x vocab (worst point {fit['mem_max_rel_error']:.0%}). Memory is "
              "linear in the lines SentencePiece holds; time grows with unique words (Heaps' law), so it is "
              "sublinear in bytes. `pipelines.train_tokenizer` refuses a sample whose estimate (x "
              f"{tokenizer_budget.MARGIN}) exceeds the machine, naming --sample-bytes; machine = smallest GCE type "
              "with that headroom. Extrapolated 4-16x past the largest measured sample, on generated text whose "
              "unique words grow from the sample's real ones with exponent ~0.55 (1.05M at 256 MiB): a corpus "
              "with more distinct words (URLs, numbers, identifiers) trains slower; read the hours as a floor "
              "and the memory as an estimate."]
    return lines


def plan(results: dict, mfu: float) -> str:
    docs = {s: CORPUS_TOKENS[s] / TOKENS_PER_DOC[s] for s in CORPUS_TOKENS}
    kept_docs, kept_tokens = sum(docs.values()), sum(CORPUS_TOKENS.values())
    raw_docs = kept_docs * RAW_OVER_KEPT
    curate_key = "curate_full_docs_per_cpu_s" if "curate_full_docs_per_cpu_s" in results else "curate_docs_per_s_per_core"
    curate_h = raw_docs / results[curate_key] / 3600
    tokenize_h = kept_tokens / results["tokenize_tokens_per_s_per_core"] / 3600
    shuffle_tb = raw_docs * results["dedup_shuffle_bytes_per_doc"] / 1e12
    storage_tb = kept_tokens * results["arrayrecord_bytes_per_token"] / 1e12
    lines = [
        "# Capacity plan: the paper's corpora on Dataflow and TPU v5e",
        "",
        f"Generated by `python -m benchmarks.capacity` on {datetime.date.today().isoformat()} from "
        "`benchmarks/results.json` (numbers and commands in `benchmarks/RESULTS.md`). Do not edit by hand "
        "above the measured-sections marker: the sections from there on are measurements written with their commands, "
        "kept when this file is regenerated.",
        "",
        "## Data stages",
        "",
        "| quantity | value | from |",
        "|---|---:|---|",
        f"| kept tokens (paper) | {kept_tokens / 1e9:,.1f}B | docs/paper.md, sources |",
        f"| kept documents | {kept_docs / 1e6:,.0f}M | tokens / assumed tokens per document |",
        f"| raw documents read by curate | {raw_docs / 1e6:,.0f}M | kept x {RAW_OVER_KEPT} (assumed) |",
        f"| curate throughput | {results[curate_key]:,.0f} docs/s/core | results.json {curate_key} |",
        f"| **curate worker-core-hours** | **{curate_h:,.0f}** | raw documents / throughput |",
        f"| tokenize throughput | {results['tokenize_tokens_per_s_per_core']:,.0f} tokens/s/core | results.json tokenize_tokens_per_s_per_core |",
        f"| **tokenize worker-core-hours** | **{tokenize_h:,.0f}** | kept tokens / throughput |",
        f"| dedup shuffle per document | {results['dedup_shuffle_bytes_per_doc']:,.0f} bytes | results.json dedup_shuffle_bytes_per_doc |",
        f"| **dedup shuffle volume** | **{shuffle_tb:,.1f} TB** | raw documents x bytes per document |",
        f"| ArrayRecord bytes per token | {results['arrayrecord_bytes_per_token']:.2f} | results.json arrayrecord_bytes_per_token |",
        f"| **ArrayRecord storage** | **{storage_tb:,.2f} TB** | kept tokens x bytes per token |",
        "",
        f"On n2-standard-8 workers (8 vCPU), curate is {curate_h / 8:,.0f} worker-hours, e.g. "
        f"{curate_h / 8 / 200:,.1f} h on 200 workers; tokenize {tokenize_h / 8:,.0f} worker-hours.",
        "",
        "## Training on TPU v5e (200B tokens per pre-training run)",
        "",
        "FLOPs per token = 6N (every matmul weight, the output projection included) + causal attention "
        "(6 x layers x d_model x seq_len), from `trainer.flops.cost`, the computation `python -m trainer train "
        "--config NAME --dry-run --tokens 200B` prints.",
        "",
        f"| model | FLOPs/token (6N + attention) | chip-hours at our stated MFU {mfu:.0%} | paper chip-hours | "
        "paper's MFU by this count | paper's MFU by 6ND (nominal N) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    from trainer.configs import PRESETS

    for name in [n for n, p in PRESETS.items() if p.paper_chip_hours]:   # sizes the paper gives a cost for
        c = training_cost(name, PRETRAIN_TOKENS, mfu)
        lines.append(f"| {name} | {c['flops_per_token']:.3g} | {c['chip_hours']:,.0f} | {c['paper_chip_hours']:,.0f} "
                     f"| {c['paper_mfu']:.1%} | {c['paper_mfu_6nd']:.1%} |")
    lines += tokenizer_section(results)
    lines += [
        "",
        "## Assumptions",
        "",
        f"- Mean tokens per document: {', '.join(f'{k} {v:,}' for k, v in TOKENS_PER_DOC.items())} (ours).",
        f"- Curation reads {RAW_OVER_KEPT}x the documents it keeps (filters and duplicates); the paper keeps "
        "503B of 627B SlimPajama tokens (1.25x) and filters The Stack harder.",
        "- The curate rate is the whole `pipelines.curate` job's on prose (benchmarks/curate_full.py: every "
        "filter, fastText language ID, decontamination, exact and near dedup; the curate-vs-datatrove subset "
        "without them runs ~1.8x faster), DirectRunner overhead included (38% of its CPU there). Code "
        "filters and the sandboxed verification of synthetic problems (3.2B tokens, ~11M problems) add to "
        "it: read the curate hours as a floor.",
        "- Per-core rates measured on the benchmark machine scale linearly with workers (the scaling "
        "benchmark checks flat per-document cost at 1x/4x/16x); Dataflow vCPUs are assumed equal to it.",
        "- TPU v5e peak 197 TFLOP/s bf16 per chip (`trainer.flops.PEAK_FLOPS`).",
        "",
    ]
    return "\n".join(lines)


# Figures measured by slow tests (peak memory at full size) are written by hand below this line and
# kept as they are when the plan above is regenerated.
MEASURED_MARKER = "<!-- Measured by slow tests below this line: kept when this file is regenerated. -->"


def measured_section(path: str) -> str:
    """The hand-written tail of an existing capacity.md (from MEASURED_MARKER on), or just the marker."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return MEASURED_MARKER + "\n"
    at = text.find(MEASURED_MARKER)
    return text[at:] if at >= 0 else MEASURED_MARKER + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=os.path.join(os.path.dirname(__file__), "results.json"),
                        help="measured throughputs (JSON written by the benchmarks)")
    parser.add_argument("--mfu", type=float, default=0.40, help="model FLOPs utilisation to plan TPU time at (0-1)")
    parser.add_argument("--output", default="docs/capacity.md", help="markdown file to write")
    args = parser.parse_args(argv)
    text = plan(load_results(args.results), args.mfu) + "\n" + measured_section(args.output)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
