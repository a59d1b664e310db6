"""Argument parsing for `python -m evals` (the `harness` subcommand is lm_eval's own CLI: evals/harness.py)."""
from __future__ import annotations

import argparse
import json
import sys

from tokens.flags import StrictArgumentParser


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="TOKENS",
                   help="tokenized root whose manifests list held-out shards (local or gs://)")
    p.add_argument("--tasks", default="", help="comma-separated lm_eval task names (default: the shipped local "
                   "suites cm_local_reasoning,cm_local_knowledge; e.g. arc_easy,piqa,... where their data "
                   "is reachable)")
    p.add_argument("--include-path", default=None, help="extra lm_eval task directory (--include_path)")
    p.add_argument("--heldout-tokens", type=int, default=20_000,
                   help="held-out tokens per source at most, whole documents (default 20000; 0 = all)")
    p.add_argument("--humaneval-limit", type=int, default=None,
                   help="first N HumanEval problems (default all 164; 0 = skip HumanEval)")
    p.add_argument("--mbpp", default=None, metavar="PATH", help="MBPP jsonl(.gz) to score too (local or gs://)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="tokens generated per code completion")
    p.add_argument("--batch-size", type=int, default=16, help="rows per forward pass (scoring and generation)")
    p.add_argument("--workers", type=int, default=2, help="sandbox processes at a time for code execution")


def _eval_options(args):
    from evals.run_eval import EvalOptions

    return EvalOptions(data=args.data, tasks=tuple(t for t in args.tasks.split(",") if t),
                       include_path=args.include_path, heldout_tokens=args.heldout_tokens or None,
                       humaneval_limit=args.humaneval_limit, mbpp=args.mbpp, max_new_tokens=args.max_new_tokens,
                       batch_size=args.batch_size, workers=args.workers,
                       tokenizer=getattr(args, "tokenizer", None))


def build_parser() -> argparse.ArgumentParser:
    from trainer.configs import PRESETS

    parser = StrictArgumentParser(prog="python -m evals", description=(
        "Evaluate trainer checkpoints and run mixture sweeps. `python -m evals harness ARGS` is lm_eval's CLI "
        "with the model `code-mixtures` registered (--model code-mixtures --model_args checkpoint=RUN)."))
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("code", help="HumanEval / MBPP pass@k of one checkpoint, completions run in the sandbox")
    c.add_argument("--checkpoint", default=None, metavar="RUN",
                   help="trainer run directory (local or gs://); required unless --rescore")
    c.add_argument("--rescore", default=None, metavar="JSONL",
                   help="run the completions saved by an earlier --output again and score them (no model)")
    c.add_argument("--tokenizer", default=None, help="tokenizer.model (default: the run's own RUN/tokenizer.model, else its mixture's)")
    c.add_argument("--mbpp", default=None, metavar="PATH", help="also score MBPP from this jsonl(.gz)")
    c.add_argument("--no-humaneval", action="store_true", help="skip HumanEval")
    c.add_argument("--limit", type=int, default=None, help="first N problems of each set")
    c.add_argument("--samples", type=int, default=1, help="completions per problem n (n > 1 needs --temperature)")
    c.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    c.add_argument("--top-p", type=float, default=0.95, help="nucleus mass when sampling")
    c.add_argument("--k", type=_ints, default=(1,), help="comma-separated k for pass@k, each <= --samples")
    c.add_argument("--max-new-tokens", type=int, default=256,
                   help="tokens generated per completion at most; shortened per problem so the whole prompt fits "
                        "the model's context (prompts that alone exceed it are cut and counted as prompts_cut)")
    c.add_argument("--workers", type=int, default=2, help="sandbox processes at a time")
    c.add_argument("--seed", type=int, default=0, help="sampling seed")
    c.add_argument("--output", default=None, metavar="JSONL", help="write one row per problem here: prompt, "
                   "tests, prompt tokens kept, completions, verdicts and reasons (re-score with --rescore)")

    h = sub.add_parser("heldout", help="per-source held-out loss of one checkpoint with a 95%% bootstrap interval")
    h.add_argument("--checkpoint", required=True, metavar="RUN", help="trainer run directory (local or gs://)")
    h.add_argument("--data", required=True, metavar="TOKENS", help="tokenized root with held-out shards")
    h.add_argument("--tokenizer", default=None, help="tokenizer.model (default: the run's own RUN/tokenizer.model, else its mixture's)")
    h.add_argument("--sources", default="", help="comma-separated sources (default: all with a held-out split)")
    h.add_argument("--max-tokens", type=int, default=0, help="held-out tokens per source at most (0 = all)")
    h.add_argument("--batch-size", type=int, default=16, help="rows per forward pass")

    e = sub.add_parser("evaluate", help="one run's sweep evaluation (held-out, tasks, code) to a result.json")
    e.add_argument("--checkpoint", required=True, metavar="RUN", help="trainer run directory (local or gs://)")
    e.add_argument("--tokenizer", default=None, help="tokenizer.model (default: the run's own RUN/tokenizer.model, else its mixture's)")
    e.add_argument("--recipe", required=True, help="recipe name recorded in the row")
    e.add_argument("--seed", type=int, required=True, help="seed recorded in the row")
    e.add_argument("--output", required=True, help="result.json path (a sweep's runs/<recipe>/seed-<s>/result.json)")
    _eval_args(e)

    s = sub.add_parser("sweep", help="build, train and evaluate every recipe x seed; EXP/results.csv (resumable)")
    s.add_argument("--recipes", required=True, help="comma-separated mixer presets (code-0,code-25,..., "
                   "text-only, balanced-to-text, ...; multi-stage recipes chain their stages)")
    s.add_argument("--config", required=True, choices=sorted(PRESETS), help="trainer size preset (trainer/configs.py)")
    s.add_argument("--tokens", required=True, help="tokens per recipe, all stages together (K/M/B/T suffix)")
    s.add_argument("--seeds", type=int, default=3, help="seeds per recipe: 0..N-1 (data order and init)")
    s.add_argument("--output", required=True, metavar="EXP", help="experiment directory")
    s.add_argument("--steps", type=int, default=None, help="optimiser steps per stage at most (default: budget)")
    s.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides",
                   help="trainer config override, repeatable (as python -m trainer train --set)")
    s.add_argument("--launch-only", action="store_true",
                   help="print the mixer, TPU training and evaluation command lines per run; run nothing")
    _eval_args(s)

    x = sub.add_parser("export", help="write a Hugging Face model directory (CohereForCausalLM, safetensors, "
                       "tokenizer) that transformers, lm_eval --model hf and vLLM load without remote code")
    x.add_argument("--checkpoint", required=True, metavar="RUN", help="trainer run directory (local or gs://)")
    x.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    x.add_argument("--tokenizer", default=None, help="tokenizer.model (default: the run's own RUN/tokenizer.model, else its mixture's)")
    x.add_argument("--output", required=True, metavar="DIR", help="model directory to write (local or gs://)")
    x.add_argument("--overwrite", action="store_true", help="replace an export already in DIR")

    p = sub.add_parser("compare", help="print EXP/results.csv as a table (mean ± std over seeds), plot compare.png")
    p.add_argument("experiment", metavar="EXP", help="a sweep's --output directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and run; input errors (evals.errors.InputError) become one line on stderr and exit status 2."""
    from evals.errors import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(parser, args)
    except InputError as e:
        print(f"python -m evals {args.command}: {e}", file=sys.stderr)
        return 2


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "code" and args.samples > 1 and args.temperature <= 0:
        parser.error("--samples > 1 needs --temperature > 0 (greedy completions would all be the same)")
    if args.command == "code" and max(args.k) > args.samples and not args.rescore:
        parser.error(f"pass@{max(args.k)} needs --samples >= {max(args.k)}")
    if args.command == "code" and not args.checkpoint and not args.rescore:
        parser.error("code needs --checkpoint RUN (or --rescore JSONL)")
    if args.command == "export":
        from evals.export import export

        export(args.checkpoint, args.output, args.step, args.tokenizer, args.overwrite)
        return 0
    if args.command == "compare":
        from evals.compare import compare

        compare(args.experiment)
        return 0
    if args.command == "sweep":
        from mixer.budget import parse_tokens
        from trainer.configs import parse_overrides

        from evals.sweep import SweepOptions, sweep

        opts = SweepOptions(recipes=tuple(r for r in args.recipes.split(",") if r), data=args.data,
                            config=args.config, tokens=parse_tokens(args.tokens), seeds=tuple(range(args.seeds)),
                            output=args.output, steps=args.steps,
                            overrides=tuple(parse_overrides(args.overrides).items()),
                            launch_only=args.launch_only, evaluation=_eval_options(args))
        try:
            sweep(opts, say=lambda line: print(line, flush=True))
        except ValueError as e:   # a recipe the mixer refuses (BuildError, PlanError), an unknown recipe
            print(f"python -m evals sweep: error: {e}", file=sys.stderr)
            return 2
        return 0
    if args.command == "evaluate":
        from evals.run_eval import evaluate_run, write_json

        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            row = {"recipe": args.recipe, "seed": args.seed, **evaluate_run(args.checkpoint, _eval_options(args),
                                                                             scratch)}
        from trainer.metrics import strict_record

        print(json.dumps(strict_record(row), indent=2, sort_keys=True, allow_nan=False))
        print(f"wrote {write_json(args.output, row)}")
        return 0
    from evals.checkpoint import load
    from evals.lm import TextModel

    model = None
    if args.command == "heldout" or not args.rescore:
        model = TextModel(load(args.checkpoint, args.tokenizer), getattr(args, "batch_size", 16))
    if args.command == "heldout":
        from evals.heldout import evaluate

        sources = [s for s in args.sources.split(",") if s] or None
        print(f"{'source':<16}{'loss':>9}{'95% CI':>22}{'documents':>11}{'tokens':>10}")
        for r in evaluate(model.engine, args.data, sources, args.max_tokens or None):
            interval = f"[{r.ci_low:.4f}, {r.ci_high:.4f}]" if r.ci_low is not None else "n/a (< 5 documents)"
            print(f"{r.source:<16}{r.loss:>9.4f}{interval:>22}{r.documents:>11}{r.tokens:>10}")
        return 0
    from evals import code

    if args.rescore:
        return _print_code(code.rescore(code.read_records(args.rescore), args.k, args.workers), args.output)
    problems = ([] if args.no_humaneval else code.load_humaneval(args.limit)) + \
        (code.load_mbpp(args.mbpp, args.limit) if args.mbpp else [])
    if not problems:
        print("python -m evals code: nothing to score (--no-humaneval without --mbpp)", file=sys.stderr)
        return 2
    return _print_code(code.evaluate(model, problems, args.samples, args.temperature, args.k, args.workers,
                                     args.max_new_tokens, args.seed), args.output)


def _print_code(results: dict, output: str | None) -> int:
    """Per-benchmark summary on stdout, a warning for cut prompts, the rows to OUTPUT (JSONL)."""
    from evals import code
    from trainer.metrics import strict_record

    summary = {name: {k: v for k, v in r.items() if k not in ("per_task", "records")} for name, r in results.items()}
    print(json.dumps(strict_record(summary), indent=2, allow_nan=False))
    for name, r in results.items():
        if r["prompts_cut"]:
            print(f"warning: {r['prompts_cut']} {name} prompt(s) longer than the model's context were cut from "
                  "the left (prompt_tokens_kept in the rows)", file=sys.stderr)
    if output:
        code.write_records(output, [row for r in results.values() for row in r["records"]])
    return 0
