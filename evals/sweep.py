"""`python -m evals sweep`: build each recipe's mixture, train every stage, evaluate, one CSV row per run.

Layout under EXP (local; with --launch-only any path, gs:// included):
  runs/<recipe>/seed-<s>/mix/            mixer build --preset <recipe> --seed <s> (stages in recipe.json)
  runs/<recipe>/seed-<s>/train/<stage>/  one trainer workdir per stage; later stages start from the previous
                                         one (the mixture's init_from, resolved by the trainer as a sibling)
  runs/<recipe>/seed-<s>/train.log       the trainer's lines
  runs/<recipe>/seed-<s>/result.json     the evaluation (evals.run_eval): written last, atomically = done
  results.csv                            one row per finished run, rebuilt after every run

Resuming: a run with result.json is skipped; a run without one is rebuilt and trained again, and the trainer
itself resumes a stage from its latest checkpoint, so a killed sweep loses at most one checkpoint interval.
The seed sets both the mixture's sampling seed and the model's initialisation.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
from typing import Callable

from evals.run_eval import EvalOptions, evaluate_run, write_json

RESULTS = "results.csv"


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    recipes: tuple[str, ...]
    data: str
    config: str
    tokens: int
    seeds: tuple[int, ...]
    output: str
    steps: int | None = None                    # cap on optimiser steps per stage (default: the token budget's)
    overrides: tuple[tuple[str, str], ...] = ()  # trainer --set FIELD=VALUE
    launch_only: bool = False
    evaluation: EvalOptions | None = None


def run_dir(opts: SweepOptions, recipe: str, seed: int) -> str:
    from tokens import paths

    return paths.join(opts.output, "runs", recipe, f"seed-{seed}")


def seq_len(opts: SweepOptions) -> int:
    """The length the sweep builds its mixtures at: the trainer preset's (with --set overrides). The mixture
    then owns it: the trainer packs rows of the mixture's seq_len."""
    from trainer.configs import get_config

    return get_config(opts.config, **dict(opts.overrides)).model.seq_len


def mix_dir(opts: SweepOptions, recipe: str, seed: int) -> str:
    from tokens import paths

    return paths.join(run_dir(opts, recipe, seed), "mix")


def mixer_argv(opts: SweepOptions, recipe: str, seed: int) -> list[str]:
    """The `python -m mixer` command line equivalent to `build` (printed by --launch-only)."""
    return ["build", "--preset", recipe, "--data", opts.data, "--tokens", str(opts.tokens), "--seq-len",
            str(seq_len(opts)), "--seed", str(seed), "--output", mix_dir(opts, recipe, seed)]


def stages(mix_dir: str) -> list[dict]:
    """[{name, mixture}] in training order, for a multi-stage recipe.json or a single mixture.json."""
    from mixer import api

    return [{"name": name, "mixture": path} for name, path in api.stage_paths(api.recipe_path(mix_dir))]


def code_share(mixtures: list[dict]) -> float:
    """Percent of the recipe's tokens (all stages) drawn from code-side sources (roles in tokens/sources.py)."""
    from tokens.sources import code_side

    code_family = set(code_side())
    total = sum(int(s["target_tokens"]) for m in mixtures for s in m["sources"].values())
    code = sum(int(s["target_tokens"]) for m in mixtures for name, s in m["sources"].items() if name in code_family)
    return 100.0 * code / max(1, total)


def build(opts: SweepOptions, recipe: str, seed: int) -> list[dict]:
    """Build the preset's recipe under the run's mix/ through the mixer's library API."""
    from mixer import api

    requests, name, description = api.preset_requests(recipe, opts.tokens, seed)
    options = api.BuildOptions(data=opts.data, seq_len=seq_len(opts),
                               command="python -m mixer " + shlex.join(mixer_argv(opts, recipe, seed)))
    built = api.build_recipe(requests, options, name, description, output=mix_dir(opts, recipe, seed))
    for m in built.mixtures:
        for warning in m["warnings"]:
            print(f"WARNING: {warning}")
    return stages(mix_dir(opts, recipe, seed))


def train_stages(opts: SweepOptions, recipe: str, seed: int, plan: list[dict], log: Callable) -> str:
    """Train every stage in order; returns the last stage's workdir."""
    from trainer.train import RunOptions, train

    workdir = None
    for stage in plan:
        workdir = os.path.join(run_dir(opts, recipe, seed), "train", stage["name"])
        train(RunOptions(mixture=stage["mixture"], config=opts.config, workdir=workdir, steps=opts.steps,
                         overrides=(*opts.overrides, ("seed", str(seed))), eval_every=0), log=log)
    return workdir


def run_one(opts: SweepOptions, recipe: str, seed: int, say: Callable) -> dict:
    from mixer.mixture import load_mixture

    directory = run_dir(opts, recipe, seed)
    os.makedirs(directory, exist_ok=True)
    start = time.time()
    plan = build(opts, recipe, seed)
    mixtures = [load_mixture(s["mixture"], check_shards=False) for s in plan]
    with open(os.path.join(directory, "train.log"), "a") as handle:
        last = train_stages(opts, recipe, seed, plan, lambda line: print(line, file=handle, flush=True))
    trained = time.time() - start
    say(f"{recipe} seed {seed}: trained {len(plan)} stage(s) in {trained:.0f} s; evaluating")
    row = {"recipe": recipe, "seed": seed, "code_share": round(code_share(mixtures), 3),
           "tokens": sum(int(m["total_tokens"]) for m in mixtures), "stages": len(plan),
           "train_wall_s": round(trained, 1)}
    row.update(evaluate_run(last, opts.evaluation, os.path.join(directory, "tasks")))
    row["wall_s"] = round(time.time() - start, 1)
    write_json(os.path.join(directory, "result.json"), row)
    return row


def launch_lines(opts: SweepOptions, recipe: str, seed: int, tpu: str = "$TPU", zone: str = "$ZONE") -> list[str]:
    """The commands that run one (recipe, seed) on a TPU v5e slice (trainer/README.md), then evaluate it."""
    from tokens import paths

    lines = [f"python -m mixer {shlex.join(mixer_argv(opts, recipe, seed))}"]
    directory = run_dir(opts, recipe, seed)
    sets = " ".join(f"--set {k}={v}" for k, v in (*opts.overrides, ("seed", str(seed))))
    plan = stage_names(recipe)
    for name in plan:
        mixture = paths.join(directory, "mix", *([name] if len(plan) > 1 else []), "mixture.json")
        workdir = paths.join(directory, "train", name)
        steps = f" --steps {opts.steps}" if opts.steps else ""
        lines.append(f'gcloud compute tpus tpu-vm ssh {tpu} --zone {zone} --worker=all --command "cd code-mixtures '
                     f'&& python -m trainer train --mixture {mixture} --config {opts.config} --workdir {workdir}'
                     f'{steps} {sets} --distributed"')
    ev = opts.evaluation
    extra = (f" --humaneval-limit {ev.humaneval_limit}" if ev.humaneval_limit is not None else "") + \
        (f" --mbpp {ev.mbpp}" if ev.mbpp else "") + (f" --tasks {','.join(ev.tasks)}" if ev.tasks else "")
    lines.append(f'gcloud compute tpus tpu-vm ssh {tpu} --zone {zone} --worker=0 --command "cd code-mixtures && '
                 f'python -m evals evaluate --checkpoint {paths.join(directory, "train", plan[-1])} --data {opts.data} '
                 f'--recipe {recipe} --seed {seed} --output {paths.join(directory, "result.json")}{extra}"')
    return lines


def stage_names(recipe: str) -> list[str]:
    """Stage directory names of a preset, as `stages()` finds them after the build."""
    from mixer.presets import PRESETS

    preset = PRESETS[recipe]
    return [s.name for s in preset.stages] if len(preset.stages) > 1 else [preset.stages[0].stage]


def collect(output: str) -> list[dict]:
    """Every finished run's result.json under EXP/runs, sorted by (recipe order of appearance, seed)."""
    from tokens import paths

    rows = []
    runs = paths.join(output, "runs")
    for recipe in paths.list_dir(runs):
        for seed in paths.list_dir(paths.join(runs, recipe)):
            path = paths.join(runs, recipe, seed, "result.json")
            if seed.startswith("seed-") and paths.exists(path):
                rows.append(json.loads(paths.read_bytes(path)))
    return sorted(rows, key=lambda r: (float(r.get("code_share") or 0), r["recipe"], int(r["seed"])))


def write_csv(output: str, rows: list[dict]) -> str:
    """EXP/results.csv (atomic): the union of every row's columns, identity columns first."""
    import csv
    import io

    from tokens import paths

    first = ["recipe", "seed", "code_share", "tokens", "stages", "step"]
    columns = first + sorted({k for r in rows for k in r} - set(first))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    path = paths.join(output, RESULTS)
    paths.write_atomic(path, buffer.getvalue().encode("utf-8"))
    return path


def sweep(opts: SweepOptions, say: Callable = print) -> list[dict]:
    """Run (or print, with launch_only) every (recipe, seed); returns the finished rows."""
    from mixer.presets import PRESETS

    unknown = [r for r in opts.recipes if r not in PRESETS]
    if unknown:
        raise ValueError(f"unknown recipes {unknown}; mixer presets: {sorted(PRESETS)}")
    if not opts.launch_only and "://" in opts.output:
        raise ValueError(f"--output {opts.output}: a sweep that trains here writes a local EXP; for gs:// use "
                         "--launch-only (the printed commands write there) and `python -m evals compare gs://...`")
    if opts.launch_only:
        for seed in opts.seeds:
            for recipe in opts.recipes:
                say(f"# {recipe} seed {seed}")
                for line in launch_lines(opts, recipe, seed):
                    say(line)
        return []
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.abspath(os.path.join(opts.output, ".xla-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    for seed in opts.seeds:
        for recipe in opts.recipes:
            done = os.path.join(run_dir(opts, recipe, seed), "result.json")
            if os.path.exists(done):
                say(f"{recipe} seed {seed}: done earlier ({done})")
                continue
            row = run_one(opts, recipe, seed, say)
            say(f"{recipe} seed {seed}: finished in {row['wall_s']:.0f} s")
            write_csv(opts.output, collect(opts.output))
    rows = collect(opts.output)
    write_csv(opts.output, rows)
    return rows
