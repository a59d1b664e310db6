"""The training loop: mixture -> Grain batches -> sharded train step -> metrics, held-out eval, checkpoints.

Decisions (the paper is silent; see also trainer/data.py and trainer/checkpoint.py):
  * Steps: min(--steps, mixture total_tokens // (global_batch * seq_len)); without --steps the mixture's token
    budget alone decides. The schedule's length is that total, so a run stopped early (--stop-at) and resumed
    follows the same LR curve as an uninterrupted one.
  * The packed row length is the mixture's seq_len (`mixer build --seq-len`, the data's contract); an explicit
    `--set model.seq_len=N` wins over it, and then a note is logged.
  * Data order comes from the mixture's seed (part of its hash); TrainConfig.seed seeds parameter init.
  * Schedule: mixture["schedule"] (cosine with warmup, or the linear cooldown to final_lr); a cooldown that
    starts from a previous stage starts at the LR that stage ended with (recorded in its checkpoint meta).
  * Previous stage: --init-from DIR, else the mixture's init_from resolved as a sibling of --workdir
    (RUN_ROOT/<init_from>); only parameters are taken unless --init-optimizer. Resuming from this run's own
    checkpoint always wins over init-from.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any

from mixer.presets import schedule_for
from trainer.configs import PRESETS, get_config, resolve_vocab

@dataclasses.dataclass(frozen=True)
class RunOptions:
    mixture: str | None           # None: --dry-run of a bare token budget (`tokens`)
    config: str
    workdir: str | None           # None only with --dry-run
    steps: int | None = None
    dry_run: bool = False
    init_from: str | None = None
    init_optimizer: bool = False
    overrides: tuple[tuple[str, str], ...] = ()
    log_every: int | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    stop_at: int | None = None
    force: bool = False
    log_documents: bool = False
    prefetch: int = 2
    assumed_mfu: float = 0.40
    chips: int | None = None
    async_checkpoints: bool = True
    tokens: int | None = None     # --dry-run without a mixture: the token budget to cost


def build_config(opts: RunOptions, mixture: dict):
    overrides = {key.replace("__", "."): value for key, value in opts.overrides}
    cfg = get_config(opts.config, **overrides)
    for field in ("log_every", "eval_every", "checkpoint_every"):
        if getattr(opts, field) is not None:
            cfg = dataclasses.replace(cfg, **{field: getattr(opts, field)})
    if "model.seq_len" not in overrides and mixture.get("seq_len"):
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, seq_len=int(mixture["seq_len"])))
    return resolve_vocab(cfg, int(mixture["vocab_size"]))


def total_steps(cfg, mixture: dict, requested: int | None) -> int:
    """min(requested, whole steps the mixture's token budget pays for); clear error when that is 0."""
    budget = int(mixture["total_tokens"]) // cfg.tokens_per_step
    if budget < 1:
        raise ValueError(f"mixture {mixture.get('name')!r} holds {mixture['total_tokens']} tokens, fewer than one "
                         f"step of {cfg.global_batch} x {cfg.model.seq_len} = {cfg.tokens_per_step}")
    return budget if requested is None else max(1, min(int(requested), budget))


def dry_run_report(opts: RunOptions, cfg, mixture: dict, steps: int) -> str:
    """What the run would cost, computed from shapes only (nothing is allocated); FLOPs and chip-hours from
    trainer/flops.py::cost, the one place they are computed."""
    from trainer import flops
    from trainer.model import count_params
    from trainer.sharding import mesh_shape

    chips = opts.chips or PRESETS[opts.config].target_chips
    shape = mesh_shape(cfg.mesh, chips)
    peak = flops.PEAK_FLOPS["tpu-v5e"]
    tokens = steps * cfg.tokens_per_step
    c = flops.cost(opts.config, cfg.model, tokens, opts.assumed_mfu, peak)
    mem = flops.memory_per_device(cfg, shape, flops.HBM_BYTES["tpu-v5e"])
    budget = (f"mixture {mixture.get('name')!r} (stage {mixture.get('stage')})" if opts.mixture
              else "no mixture: --tokens budget")
    return "\n".join([
        f"dry run: config {opts.config!r}, {budget}",
        f"  parameters           {count_params(cfg.model):,}",
        f"  tokens per step      {cfg.tokens_per_step:,} ({cfg.global_batch} x {cfg.model.seq_len}, "
        f"grad_accum {cfg.grad_accum})",
        *flops.format_cost(c, chips)[:1],
        f"  FLOPs per step       {c['flops_per_token'] * cfg.tokens_per_step:.4g}",
        f"  steps                {steps:,} ({tokens:,} tokens of a {int(mixture['total_tokens']):,}-token budget)",
        f"  mesh                 {shape} on {chips} chips (TPU v5e, {peak / 1e12:.0f} TFLOP/s bf16 each)",
        *flops.format_cost(c, chips)[1:],
        "  memory per device (trainer/flops.py::memory_per_device):",
        flops.format_memory(mem),
    ])


def budget_mixture(opts: RunOptions) -> dict:
    """A stand-in mixture for --dry-run without --mixture: the token budget and the preset's vocabulary. It names
    no seq_len, so build_config keeps the preset's (the only length there is without data)."""
    if not opts.dry_run:
        raise ValueError("--mixture is required to train; only --dry-run costs a bare --tokens budget")
    if not opts.tokens:
        raise ValueError("--dry-run without --mixture needs --tokens (e.g. --tokens 200B)")
    model = get_config(opts.config).model
    return {"name": None, "stage": None, "total_tokens": int(opts.tokens),
            "vocab_size": model.vocab_size or 256_000}   # presets without a vocabulary: the paper's 256k


def _peak_flops() -> tuple[float, str]:
    """Aggregate peak FLOP/s of every device and where the number comes from."""
    import jax
    from trainer import flops

    dev = jax.devices()[0]
    kind = dev.device_kind.lower()
    n = jax.device_count()
    if dev.platform == "tpu":
        key = "tpu-v5e" if ("v5 lite" in kind or "v5e" in kind) else next(
            (k for k in ("tpu-v6e", "tpu-v5p", "tpu-v4") if k.split("-")[1] in kind), "tpu-v5e")
        return flops.PEAK_FLOPS[key] * n, f"{key} vendor peak {flops.PEAK_FLOPS[key]:.3g} FLOP/s x {n}"
    if dev.platform == "gpu":
        key = next((k for k in ("h200", "h100", "a100") if k in kind), "h100")
        return flops.PEAK_FLOPS[key] * n, f"{key} vendor peak {flops.PEAK_FLOPS[key]:.3g} FLOP/s x {n}"
    peak = flops.measure_cpu_matmul_peak()
    return peak * n, f"measured CPU float32 matmul peak {peak:.3g} FLOP/s x {n} device(s)"


def _resolve_init_from(opts: RunOptions, mixture: dict) -> str | None:
    if opts.init_from:
        return opts.init_from
    name = mixture.get("init_from")
    if not name:
        return None
    parent = os.path.dirname(opts.workdir.rstrip("/"))
    candidate = os.path.join(parent, name) if "://" not in parent else parent + "/" + name
    if "://" in candidate or os.path.isdir(os.path.join(candidate, "checkpoints")):
        return candidate
    raise FileNotFoundError(f"mixture stage {mixture.get('stage')!r} continues from {name!r} but no checkpoint "
                            f"was found at {candidate}; pass --init-from PREVIOUS_RUN_DIR")


def _fit_schedule(mixture: dict, steps: int, say) -> dict:
    """The mixture's schedule (its recipe owns it; keys it lacks take the recipe's value for the stage), with
    a warmup longer than a short run (demo, --steps) cut to 10% of the run; every change is logged."""
    given = dict(mixture.get("schedule") or {})
    stage = "cooldown" if given.get("kind", "") == "linear" else (mixture.get("stage") or "pretrain")
    schedule = {**schedule_for(stage), **given}
    missing = sorted(set(schedule) - set(given))
    if missing:
        say(f"note: the mixture's schedule lacks {', '.join(missing)}; using the recipe's "
            + ", ".join(f"{k}={schedule[k]}" for k in missing) + " (mixer/presets.py)")
    warmup = int(schedule.get("warmup_steps", 0))
    if warmup >= steps:
        schedule["warmup_steps"] = steps // 10
        say(f"note: warmup_steps {warmup} >= {steps} steps in this run; warmup shortened to {steps // 10}")
    return schedule


def _host_documents(batch: dict) -> list[list]:
    """(source id, document index) pairs of a host batch, in row order, consecutive duplicates dropped."""
    out = []
    for s, d in zip(batch["source_ids"].ravel().tolist(), batch["document_ids"].ravel().tolist()):
        if s >= 0 and (not out or out[-1] != [s, d]):
            out.append([s, d])
    return out


def _fmt_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def train(opts: RunOptions, log=print) -> dict[str, Any]:
    """Run (or resume) one training stage; returns a summary {steps, final_loss, checkpoint_step, ...}."""
    from mixer.mixture import load_mixture

    if opts.mixture and opts.tokens:
        raise ValueError("--tokens costs a bare budget; with --mixture the mixture's total_tokens is the budget")
    if not opts.dry_run and not opts.workdir:
        raise ValueError("a training run needs a workdir (checkpoints, metrics)")
    mixture = load_mixture(opts.mixture) if opts.mixture else budget_mixture(opts)
    cfg = build_config(opts, mixture)
    steps = total_steps(cfg, mixture, opts.steps)
    if opts.dry_run:
        report = dry_run_report(opts, cfg, mixture, steps)
        log(report)
        return {"dry_run": True, "steps": steps}
    import jax

    from tokens import run_lock   # one run per workdir: process 0 holds WORKDIR/_LOCK.json, a second trainer refuses
    with run_lock.hold(opts.workdir, "trainer", " ".join(sys.argv)) if jax.process_index() == 0 else contextlib.nullcontext():
        return _run(opts, cfg, mixture, steps, log)


def per_source_losses(sums: dict, sources: list[str]) -> dict[str, float | None]:
    """Mean loss per source from summed step metrics; None for a source that had no tokens in them."""
    return {s: (float(sums["source_loss_sum"][i] / sums["source_tokens"][i]) if sums["source_tokens"][i] > 0
                else None) for i, s in enumerate(sources)}


@dataclasses.dataclass
class _Start:
    """Everything the loop needs, built once: from this run's checkpoint, a previous stage, or fresh."""
    state: Any
    shardings: Any
    mesh: Any
    schedule: Any
    optimizer: Any
    checkpointer: Any
    batches: Any
    data_config: Any
    start_lr: float | None


def _start(opts: RunOptions, cfg, mixture: dict, steps: int, mix_hash: str, say) -> _Start:
    import jax

    from trainer import checkpoint as ckpt_lib
    from trainer import data as data_lib
    from trainer.optim import make_optimizer, make_schedule
    from trainer.sharding import make_mesh
    from trainer.step import init_state

    checkpointer = ckpt_lib.Checkpointer(opts.workdir, max_to_keep=cfg.keep_checkpoints,
                                         async_save=opts.async_checkpoints)
    resume_meta = None
    if checkpointer.latest_step() is not None:
        resume_meta = checkpointer.read_meta()
        ckpt_lib.check_resume(resume_meta, mix_hash, opts.force)
    init_dir = None if resume_meta else _resolve_init_from(opts, mixture)
    init_meta = ckpt_lib.Checkpointer(init_dir, read_only=True).read_meta() if init_dir else None
    start_lr = (resume_meta or {}).get("start_lr")
    if start_lr is None and init_meta is not None and mixture["schedule"].get("kind") == "linear":
        start_lr = init_meta.get("lr")
    schedule = make_schedule(cfg.optim, steps, _fit_schedule(mixture, steps, say), start_lr)
    optimizer = make_optimizer(cfg.optim, schedule)
    mesh = make_mesh(cfg.mesh)
    state, shardings = init_state(cfg, jax.random.key(cfg.seed), mesh, optimizer)
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)

    dcfg = data_lib.DataConfig(seq_len=cfg.model.seq_len, global_batch=cfg.global_batch, seed=None,
                               process_index=jax.process_index(), process_count=jax.process_count(),
                               prefetch=opts.prefetch)
    batches = data_lib.make_train_iterator(mixture, dcfg, _mixture_dir(opts))
    if resume_meta is not None:
        state, _ = checkpointer.restore_verified(abstract, batches, say)   # digest checked; falls back
        if resume_meta.get("total_steps") not in (None, steps):
            say(f"warning: checkpoint planned {resume_meta['total_steps']} steps, this run {steps}: "
                "the LR schedule differs from the original run's")
        say(f"resumed from {checkpointer.directory} step {int(state.step)}")
    elif init_dir is not None:
        previous, _ = ckpt_lib.load_weights_from(init_dir, abstract, with_optimizer=opts.init_optimizer)
        state = state.replace(params=previous.params,
                              opt_state=previous.opt_state if opts.init_optimizer else state.opt_state)
        say(f"initialised from {init_dir} step {init_meta.get('step')} (parameters"
            f"{' and optimizer state' if opts.init_optimizer else ''}); start lr {start_lr}")
    return _Start(state, shardings, mesh, schedule, optimizer, checkpointer, batches, dcfg, start_lr)


def _mixture_dir(opts: RunOptions) -> str | None:
    return os.path.dirname(opts.mixture) if "://" not in opts.mixture else None


def _open_document_log(opts: RunOptions):
    """--log-documents: this process's picks, one JSON line per step (local workdirs only)."""
    import jax

    if "://" in opts.workdir:
        raise ValueError("--log-documents writes local files; use a local --workdir")
    os.makedirs(os.path.join(opts.workdir, "documents"), exist_ok=True)
    return open(os.path.join(opts.workdir, "documents",
                             f"process_{jax.process_index()}-of-{jax.process_count()}.jsonl"), "a")


def _evaluate(params, eval_fn, eval_batches: list, mesh, sources: list[str]) -> tuple[float, dict, float]:
    """(mean loss, loss per source, tokens) over the fixed held-out batches."""
    import jax
    import numpy as np

    from trainer.data import BATCH_KEYS
    from trainer.sharding import shard_batch

    sums = None
    for eb in eval_batches:
        out = eval_fn(params, shard_batch({k: eb[k] for k in BATCH_KEYS}, mesh))
        sums = out if sums is None else jax.tree.map(np.add, sums, out)
    sums = jax.device_get(sums)
    tokens = float(sums["tokens"])
    return float(sums["nll_sum"] / max(tokens, 1.0)), per_source_losses(sums, sources), tokens


def _interval_record(step: int, steps: int, got: dict, lr: float, n: int, elapsed: float, cfg,
                     sources: list[str], per_token: float, peak: float) -> dict[str, Any]:
    """The "train" metrics record of the last `n` steps (summed metrics `got`, `elapsed` seconds)."""
    from trainer import flops

    tokens_per_s = n * cfg.tokens_per_step / elapsed
    return {"kind": "train", "step": step, "loss": float(got["loss"] / n),
            "loss_per_source": per_source_losses(got, sources), "lr": lr, "grad_norm": float(got["grad_norm"] / n),
            "tokens_per_s": tokens_per_s, "step_time_s": elapsed / n,
            "mfu": flops.mfu(tokens_per_s, per_token, peak), "eta_s": (steps - step) * elapsed / n,
            "tokens_seen": step * cfg.tokens_per_step}


def _format_record(r: dict, steps: int) -> str:
    return (f"step {r['step']}/{steps} | loss {r['loss']:.4f} | "
            + " ".join(f"{s} {v:.3f}" for s, v in r["loss_per_source"].items() if v is not None)
            + f" | lr {r['lr']:.2e} | gnorm {r['grad_norm']:.3f} | {r['tokens_per_s']:,.0f} tok/s | "
            f"{r['step_time_s']:.3f} s/step | MFU {r['mfu']:.2%} | ETA {_fmt_time(r['eta_s'])}")


def _run(opts: RunOptions, cfg, mixture: dict, steps: int, log) -> dict[str, Any]:
    import jax

    from mixer.mixture import mixture_hash
    from trainer import data as data_lib
    from trainer import flops, guards
    from trainer.metrics import MetricsWriter, plot_loss_per_source
    from trainer.run_files import keep_tokenizer
    from trainer.sharding import shard_batch
    from trainer.step import make_eval_step, make_train_step

    primary = jax.process_index() == 0
    writer = MetricsWriter(opts.workdir, enabled=primary)
    say = log if primary else (lambda *_: None)
    sources = sorted(mixture["sources"])
    mix_hash = mixture_hash(mixture)
    if int(mixture.get("seq_len", cfg.model.seq_len)) != cfg.model.seq_len:
        say(f"note: --set model.seq_len={cfg.model.seq_len} overrides the mixture's seq_len {mixture['seq_len']}; "
            f"rows are packed to {cfg.model.seq_len} tokens")
    elif cfg.model.seq_len != get_config(opts.config).model.seq_len:
        say(f"note: seq_len {cfg.model.seq_len} from the mixture (preset {opts.config!r} says "
            f"{get_config(opts.config).model.seq_len}); rows are packed to {cfg.model.seq_len} tokens")
    changed = [f"{k}={v}" for k, v in opts.overrides] + [
        f"{f}={getattr(opts, f)}" for f in ("log_every", "eval_every", "checkpoint_every") if getattr(opts, f) is not None]
    if changed:
        say(f"note: preset {opts.config!r} overridden: {', '.join(changed)}")
    run = _start(opts, cfg, mixture, steps, mix_hash, say)
    state, mesh, batches = run.state, run.mesh, run.batches
    train_fn = make_train_step(cfg, mesh=mesh, state_shardings=run.shardings, num_sources=len(sources),
                               optimizer=run.optimizer, schedule=run.schedule)
    eval_fn = make_eval_step(cfg, mesh=mesh, state_shardings=run.shardings, num_sources=len(sources))
    eval_batches = (data_lib.make_eval_batches(mixture, run.data_config, cfg.eval_batches, _mixture_dir(opts))
                    if cfg.eval_every > 0 else [])
    per_token = flops.flops_per_token(cfg.model)
    peak, peak_note = _peak_flops()
    first = int(state.step)
    if primary and (warning := keep_tokenizer(opts.workdir, mixture)):
        say(warning)
    say(f"training {opts.config} on {mixture.get('name')!r}: steps {first}->{steps}, "
        f"{cfg.tokens_per_step:,} tokens/step, sources {sources}; MFU peak: {peak_note}")
    writer.write({"kind": "info", "step": first, "total_steps": steps, "config": opts.config,
                  "mixture": mixture.get("name"), "mixture_hash": mix_hash, "peak_flops": peak,
                  "peak_note": peak_note, "flops_per_token": per_token, "processes": jax.process_count(),
                  "devices": jax.device_count()})
    doc_log = _open_document_log(opts) if opts.log_documents else None

    def save(step: int, lr: float):
        meta = {"mixture_hash": mix_hash, "mixture_name": mixture.get("name"), "stage": mixture.get("stage"),
                "config_name": opts.config, "config": dataclasses.asdict(cfg), "total_steps": steps,
                "start_lr": run.start_lr, "lr": lr, "tokens_seen": step * cfg.tokens_per_step,
                "mixture": opts.mixture if "://" in opts.mixture else os.path.abspath(opts.mixture),
                "tokenizer_sha256": mixture.get("tokenizer_sha256"),   # evals: WORKDIR/tokenizer.model must match
                guards.DIGEST_KEY: guards.state_digest(state)}
        # never save NaNs (nor rotate a good checkpoint out for them)
        guards.stop_if_nonfinite(run.checkpointer, unchecked, checked_at, step, state.params)
        run.checkpointer.save(step, state, batches, meta)

    def evaluate(step: int):
        loss, per_source, tokens = _evaluate(state.params, eval_fn, eval_batches, mesh, sources)
        writer.write({"kind": "eval", "step": step, "loss": loss, "loss_per_source": per_source, "tokens": tokens})
        say(f"eval step {step}: loss {loss:.4f} | " + " ".join(
            f"{s} {v:.4f}" for s, v in per_source.items() if v is not None))

    acc, last_lr, loss = None, float(run.schedule(first)), float("nan")
    unchecked, checked_at = None, first   # metrics summed since the last finiteness check (guards.check_finite)
    tick, interval_steps = time.perf_counter(), 0
    step = first
    stop = steps if opts.stop_at is None else min(steps, opts.stop_at)
    while step < stop:
        host = next(batches)
        if doc_log is not None:
            doc_log.write(json.dumps({"step": step + 1, "documents": _host_documents(host)}, allow_nan=False) + "\n")
        state, metrics = train_fn(state, shard_batch({k: host[k] for k in data_lib.BATCH_KEYS}, mesh))
        step += 1
        interval_steps += 1
        acc = metrics if acc is None else jax.tree.map(lambda a, b: a + b, acc, metrics)
        unchecked = metrics if unchecked is None else jax.tree.map(lambda a, b: a + b, unchecked, metrics)
        if step == first + 1:  # compile + first step: reported apart so throughput is steady state
            jax.block_until_ready(metrics)
            writer.write({"kind": "info", "step": step, "compile_and_first_step_s": time.perf_counter() - tick})
            if step < stop and step % cfg.log_every:
                acc, tick, interval_steps = None, time.perf_counter(), 0
        if step % cfg.log_every == 0 or step == stop:
            guards.stop_if_nonfinite(run.checkpointer, unchecked, checked_at, step)
            unchecked, checked_at = None, step
            last_lr = float(metrics["lr"])
            record = _interval_record(step, steps, jax.device_get(acc), last_lr, interval_steps,
                                      time.perf_counter() - tick, cfg, sources, per_token, peak)
            loss = record["loss"]
            writer.write(record)
            say(_format_record(record, steps))
            acc, tick, interval_steps = None, time.perf_counter(), 0
        if eval_batches and step % cfg.eval_every == 0:
            evaluate(step)
        if step % cfg.checkpoint_every == 0 and step < stop:
            save(step, float(metrics["lr"]))
    if eval_batches and step > first and step % cfg.eval_every != 0:
        evaluate(step)
    if step > first or run.checkpointer.latest_step() is None:
        save(step, last_lr)
    run.checkpointer.close()
    if doc_log is not None:
        doc_log.close()
    plot = plot_loss_per_source(opts.workdir) if primary else None
    writer.close()
    batches.close()
    return {"steps": steps, "step": step, "final_loss": loss, "checkpoint_step": step, "plot": plot,
            "workdir": opts.workdir}
