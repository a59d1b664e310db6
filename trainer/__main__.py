"""`python -m trainer train ...`: train (or resume, or cost out with --dry-run) one stage of a mixture."""
from __future__ import annotations

import argparse
import sys

from tokens.flags import StrictArgumentParser, finite_float
from tokens.flags import positive_int as _positive


def _tokens(text: str) -> int:
    from mixer.budget import parse_tokens

    try:
        return parse_tokens(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _bytes(text: str) -> int:
    from tokens.cache import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    from trainer.configs import PRESETS

    parser = StrictArgumentParser(prog="python -m trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one mixture stage", description=(
        "Train a decoder on MIX/mixture.json. Resumes from WORKDIR/checkpoints when present (same mixture only). "
        "Steps = min(--steps, mixture tokens / (global_batch x seq_len)). Writes WORKDIR/metrics.jsonl, "
        "WORKDIR/tb (TensorBoard), WORKDIR/checkpoints (Orbax) and WORKDIR/loss_per_source.png."))
    t.add_argument("--mixture", default=None,
                   help="path to a mixture.json (local or gs://); optional with --dry-run --tokens")
    t.add_argument("--config", required=True, choices=sorted(PRESETS),
                   help="model/optimiser preset (trainer/configs.py)")
    t.add_argument("--workdir", default=None,
                   help="run directory (checkpoints, metrics, plots); local or gs://; not needed with --dry-run")
    t.add_argument("--tokens", type=_tokens, default=None, metavar="N",
                   help="--dry-run without --mixture: token budget to cost, with a K/M/B/T decimal suffix "
                        "(200B = 200e9); with --mixture the mixture's budget is used")
    t.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="local cache for gs:// shards (private 0700 directory; default $CODE_MIXTURES_CACHE or "
                        "a per-user directory under the temp dir); not used when shards are local or FUSE-mounted")
    t.add_argument("--cache-bytes", type=_bytes, default=None, metavar="BYTES",
                   help="cap on that cache, e.g. 64G (default: half the free space of its file system); least "
                        "recently used shards are evicted first")
    t.add_argument("--steps", type=_positive, default=None,
                   help="optimiser steps at most (default: as many as the mixture's token budget pays for)")
    t.add_argument("--dry-run", action="store_true",
                   help="print parameters, FLOPs/step, memory per device, steps and chip-hours; allocate nothing")
    t.add_argument("--init-from", default=None, metavar="DIR",
                   help="previous stage's run directory to take parameters from (default: the mixture's "
                        "init_from as a sibling of --workdir)")
    t.add_argument("--init-optimizer", action="store_true",
                   help="with --init-from, also take the previous stage's optimizer state (Adam moments)")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides",
                   help="config override by dotted field, repeatable (e.g. --set optim.lr=1e-3 --set global_batch=16)")
    t.add_argument("--log-every", type=_positive, default=None, help="steps between metric lines (default: config)")
    t.add_argument("--eval-every", type=int, default=None,
                   help="steps between held-out evaluations, 0 = never (default: config)")
    t.add_argument("--checkpoint-every", type=_positive, default=None,
                   help="steps between checkpoints; one is always written at the end (default: config)")
    t.add_argument("--stop-at", type=_positive, default=None,
                   help="stop after this step with a checkpoint, keeping the full run's schedule (preemption "
                        "drills, time-limited jobs); rerun without it to continue")
    t.add_argument("--force", action="store_true",
                   help="resume even when the checkpoint was written for a different mixture hash")
    t.add_argument("--log-documents", action="store_true",
                   help="write the (source id, document index) pairs each host trained on per step to "
                        "WORKDIR/documents/process_<i>-of-<n>.jsonl (provenance audits)")
    t.add_argument("--prefetch", type=int, default=2, help="host batches prefetched by a Grain thread (0 = off)")
    t.add_argument("--assumed-mfu", type=finite_float, default=0.40,
                   help="MFU (fraction) assumed by --dry-run's chip-hour projection (default 0.40)")
    t.add_argument("--chips", type=_positive, default=None,
                   help="chips assumed by --dry-run (default: the preset's target slice: " + ", ".join(
                       f"{name} {p.target_chips}" for name, p in PRESETS.items()) + ")")
    t.add_argument("--sync-checkpoints", action="store_true", help="save checkpoints synchronously")
    t.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="jax.distributed coordinator address (multi-process runs; TPU pods detect it themselves)")
    t.add_argument("--num-processes", type=_positive, default=None, help="jax.distributed process count")
    t.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() with no arguments so a multi-host TPU slice "
                        "detects its coordinator and hosts itself (use on every host of a v5e pod)")
    t.add_argument("--process-id", type=int, default=None, help="jax.distributed index of this process")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.dry_run and not (args.mixture and args.workdir):
        parser.error("--mixture and --workdir are required unless --dry-run")
    if args.dry_run and not args.mixture and not args.tokens:
        parser.error("--dry-run needs --mixture or --tokens (e.g. --tokens 200B)")
    if args.mixture and args.tokens:
        parser.error("--tokens is for a dry run without --mixture; a mixture's budget is its total_tokens")
    if args.cache_dir or args.cache_bytes:
        from tokens import cache
        cache.configure(args.cache_dir, args.cache_bytes)
    from trainer.configs import get_config, parse_overrides
    from trainer.train import RunOptions, train

    try:   # a bad --set (unknown field, unparsable or non-finite value) is a usage error, not a traceback
        get_config(args.config, **parse_overrides(args.overrides))
    except (KeyError, ValueError) as e:
        parser.error(f"--set: {e}")

    if args.coordinator or args.num_processes:
        import jax
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
    elif args.distributed:
        import jax
        jax.distributed.initialize()
    opts = RunOptions(
        mixture=args.mixture, config=args.config, workdir=args.workdir, steps=args.steps, dry_run=args.dry_run,
        init_from=args.init_from, init_optimizer=args.init_optimizer,
        overrides=tuple(parse_overrides(args.overrides).items()), log_every=args.log_every,
        eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, stop_at=args.stop_at,
        force=args.force, log_documents=args.log_documents, prefetch=args.prefetch,
        assumed_mfu=args.assumed_mfu, chips=args.chips, async_checkpoints=not args.sync_checkpoints,
        tokens=args.tokens)
    from mixer.mixture import MixtureError
    from trainer.checkpoint import CheckpointWriteError, ResumeError
    from trainer.data import DataError
    from trainer.guards import NonFiniteLoss

    try:
        train(opts, log=lambda line: print(line, flush=True))
    except (CheckpointWriteError, ResumeError, DataError, MixtureError, NonFiniteLoss, OSError) as e:
        # What the user can act on (full disk, stale mixture, wrong workdir) as one line; bugs keep a traceback.
        print(f"trainer: error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
