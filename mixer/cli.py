"""`python -m mixer build|inspect|sample`: token-budgeted mixtures from manifests.

A thin layer: flags -> mixer/api.py (build a recipe, load its stages, check them) -> printed tables."""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from mixer import api
from mixer import mixture as mixture_lib
from mixer.budget import parse_tokens
from mixer.build import BuildError, BuildOptions, StageRequest
from mixer.shares import MixSpec, PlanError, parse_weights
from mixer.presets import PRESETS
from tokens import sources as tags
from tokens.flags import StrictArgumentParser, finite_float, positive_int

DEFAULT_TOKENS = {"pretrain": "200B", "continue": "200B", "cooldown": "40B"}


def _build_parser(sub) -> None:
    p = sub.add_parser("build", help="resolve flags or a preset against manifests into mixture.json",
                       description="Write MIX/mixture.json (or MIX/<stage>/mixture.json + MIX/recipe.json for "
                       "multi-stage presets) and MaxText's maxtext_mixture.json. Shares are token shares.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", choices=sorted(PRESETS),
                      help="a recipe from the paper's Table 2 (docs/paper.md, \"Recipes\"): " + "; ".join(
                          f"{k}: {v.description}" for k, v in sorted(PRESETS.items())).replace("%", "%%"))
    what.add_argument("--code", type=finite_float, metavar="P", help="percent of the token budget that is code (0-100); "
                      "text gets the rest")
    what.add_argument("--weights", metavar="SRC=X,...", help="full control: relative token weights per source "
                      "(normalised to sum to 1), e.g. text=0.5,math=0.15,instruct=0.15,code=0.2")
    p.add_argument("--synth", type=finite_float, default=0.0, metavar="S",
                   help="percent of the code share taken from web code for `synthetic` (default 0)")
    p.add_argument("--markup", type=finite_float, default=0.0, metavar="M",
                   help="percent of the code share taken from web code for `markup` (default 0)")
    p.add_argument("--adjacent", type=finite_float, default=0.0, metavar="A",
                   help="percent of the code share taken from web code for the code-adjacent sources ("
                   + "/".join(tags.with_role(tags.ADJACENT)) + "; tokens/sources.py), split by their available "
                   "tokens (default 0)")
    p.add_argument("--data", required=True, metavar="TOKENS",
                   help="tokenized root holding <source>/manifest.json (local or gs://)")
    p.add_argument("--tokens", metavar="N", help="token budget with K/M/B/T decimal suffix (200B = 200e9). "
                   "Default 200B (pretrain/continue) or 40B (cooldown); with --preset, the whole recipe's "
                   "total: every stage is scaled by the same factor (e.g. 2M for a demo)")
    p.add_argument("--stage", choices=("pretrain", "continue", "cooldown"),
                   help="training stage of a flag-built mixture (default pretrain; not with --preset)")
    p.add_argument("--init-from", metavar="STAGE", help="stage this one continues from (recorded as init_from)")
    p.add_argument("--seq-len", type=int, default=8192, help="training sequence length in tokens: the trainer packs rows of this length (default 8192)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed; recipe stage i uses seed + i (default 0)")
    p.add_argument("--max-epochs", type=finite_float, default=4.0,
                   help="refuse a source that must repeat more epochs than this (default 4)")
    p.add_argument("--allow-repeat", action="store_true",
                   help="build even when a source exceeds --max-epochs (a WARNING is still recorded)")
    p.add_argument("--output", metavar="MIX", help="output directory (local or gs://); without it the JSON is "
                   "printed to stdout and nothing is written")
    p.add_argument("--name", help="mixture name (default: from the preset or the flags, e.g. code-25-synth-10)")


def _flag_name(args) -> str:
    if args.weights:
        return "custom"
    parts = [f"code-{args.code:g}"]
    for flag in ("synth", "markup", "adjacent"):
        if getattr(args, flag):
            parts.append(f"{flag}-{getattr(args, flag):g}")
    return "-".join(parts)


def _requests(args) -> tuple[list[StageRequest], str, str]:
    """(stage requests, recipe name, description) from the parsed flags."""
    if args.preset:
        for flag in ("synth", "markup", "adjacent"):
            if getattr(args, flag):
                raise PlanError(f"--{flag} does not combine with --preset (presets fix their shares)")
        if args.stage or args.init_from:
            raise PlanError("--stage/--init-from do not combine with --preset (the preset fixes its stages)")
        return api.preset_requests(args.preset, parse_tokens(args.tokens) if args.tokens else None, args.seed,
                                   args.name)
    if args.weights and (args.synth or args.markup or args.adjacent):
        raise PlanError("--synth/--markup/--adjacent apply to --code; with --weights give every source directly")
    spec = MixSpec(weights=parse_weights(args.weights)) if args.weights else \
        MixSpec(code=args.code, synth=args.synth, markup=args.markup, adjacent=args.adjacent)
    stage = args.stage or "pretrain"
    tokens = parse_tokens(args.tokens or DEFAULT_TOKENS[stage])
    name = args.name or _flag_name(args)
    return [StageRequest(name=name, stage=stage, tokens=tokens, spec=spec, init_from=args.init_from,
                         seed=args.seed)], name, ""


def run_build(args, argv: list[str]) -> int:
    from mixer.display import format_table

    command = "python -m mixer " + shlex.join(argv)
    try:
        requests, name, description = _requests(args)
        options = BuildOptions(data=args.data, seq_len=args.seq_len, max_epochs=args.max_epochs,
                               allow_repeat=args.allow_repeat, command=command)
        built = api.build_recipe(requests, options, name, description, output=args.output)
    except (PlanError, BuildError, ValueError) as e:
        print(f"mixer build: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:   # every stage's files or none: api.build_recipe writes them together
        print(f"mixer build: error: {e}; nothing under {args.output} was changed", file=sys.stderr)
        return 1
    table_out = sys.stdout if args.output else sys.stderr
    for m in built.mixtures:
        print(format_table(m), file=table_out)
        print(file=table_out)
        for warning in m["warnings"]:
            print(f"WARNING: {warning}", file=sys.stderr)
    if not args.output:
        print(json.dumps({"recipe": built.plan, "stages": list(built.mixtures)} if built.plan else built.mixtures[0],
                         indent=2, sort_keys=True, allow_nan=False))
        return 0
    print(f"wrote {built.path}")
    return 0


def run_inspect(args) -> int:
    from mixer.api import check_mixture, load_stages, unverifiable
    from mixer.display import format_table, plot_stages

    try:
        stages = load_stages(args.mixture, check_shards=False)
    except (mixture_lib.MixtureError, OSError, ValueError) as e:
        print(f"mixer inspect: error: {e}", file=sys.stderr)
        return 2
    failed = False
    for stage, m in stages:
        print(format_table(m))
        if args.check:
            problems = check_mixture(m, verify_tokens=args.verify_tokens)
            for name in unverifiable(m):
                print(f"note: {name}: this mixture records no fingerprint of its manifest (built before they "
                      "were recorded): a re-tokenized source cannot be detected; rebuild to add one")
            for problem in problems:
                print(f"CHECK FAILED: {problem}")
            print(f"check: {'FAILED' if problems else 'ok'} ({len(m['sources'])} sources, "
                  f"{sum(len(e['shards']) for e in m['sources'].values())} shards)")
            failed |= bool(problems)
        print()
    if args.plot:
        print(f"wrote {plot_stages(stages, args.plot)}")
    return 1 if failed else 0


def run_sample(args) -> int:
    from mixer.sample_command import SampleError, decoded, load_tokenizer, sample_documents

    try:
        m = mixture_lib.load_mixture(args.mixture)
        processor = load_tokenizer(args.tokenizer, m)
    except (mixture_lib.MixtureError, SampleError) as e:
        print(f"mixer sample: error: {e}", file=sys.stderr)
        return 2
    picked = sample_documents(m, args.n, seed=args.seed)
    for source, index, tokens, text in decoded(m, picked, processor, args.max_chars):
        print(f"=== {source} #{index} ({tokens} tokens)")
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = StrictArgumentParser(prog="python -m mixer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _build_parser(sub)
    p = sub.add_parser("inspect", help="print a mixture's table; --check verifies shards; --plot draws it")
    p.add_argument("mixture", help="MIX/mixture.json or MIX/recipe.json (all stages)")
    p.add_argument("--check", action="store_true", help="open every source's manifest and shards and compare "
                   "documents/tokens/record counts with the mixture (exit 1 on any mismatch)")
    p.add_argument("--verify-tokens", action="store_true", help="with --check, also read every record "
                   "(token ids, EOS, per-shard token totals); slow on big data")
    p.add_argument("--plot", metavar="PNG", help="write a stacked bar chart of token shares per stage")
    p = sub.add_parser("sample", help="decode a few documents per source in SamplingPlan order")
    p.add_argument("mixture", help="MIX/mixture.json")
    p.add_argument("-n", type=positive_int, default=3, help="documents per source, >= 1 (default 3)")
    p.add_argument("--tokenizer", required=True, help="TOK/tokenizer.model (SentencePiece)")
    p.add_argument("--seed", type=int, help="plan seed (default: the mixture's)")
    p.add_argument("--max-chars", type=positive_int, default=300,
                   help="truncate each document to this many characters (>= 1)")
    args = parser.parse_args(argv)
    if args.command == "build":
        return run_build(args, argv)
    if args.command == "inspect":
        return run_inspect(args)
    return run_sample(args)
