"""Evaluate one trained run the way the sweep does: held-out loss per source, harness tasks, code pass@1.

The result is one flat dict (a results.csv row without recipe/seed), written as JSON; its presence in a
sweep's run directory is that run's completion marker.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Sequence

# Task -> the paper's category (docs/paper.md, "Evaluation"; harness task names), and our shipped local stand-ins.
REASONING_TASKS = ("boolq", "piqa", "sciq", "social_iqa", "quac", "cb", "copa", "storycloze_2016", "hellaswag",
                   "winogrande", "arc_easy", "cm_local_reasoning")
KNOWLEDGE_TASKS = ("triviaqa", "nq_open", "cm_local_knowledge")
METRIC_PREFERENCE = ("acc,none", "exact_match,remove_whitespace", "exact_match,none", "em,none", "f1,none")


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    data: str                                   # TOKENS root (held-out shards)
    tasks: tuple[str, ...] = ()                 # harness tasks; () = the shipped local suites
    include_path: str | None = None             # extra harness task directory
    heldout_tokens: int | None = 20_000         # held-out tokens per source at most (None = all)
    humaneval_limit: int | None = None          # first N HumanEval problems (None = all 164, 0 = skip)
    mbpp: str | None = None                     # MBPP jsonl path (None = skip)
    max_new_tokens: int = 128                   # code completion length
    batch_size: int = 16
    workers: int = 2                            # sandbox processes at a time
    tokenizer: str | None = None


def main_metric(metrics: dict) -> float | None:
    for key in METRIC_PREFERENCE:
        if isinstance(metrics.get(key), (int, float)):
            return float(metrics[key])
    return None


def task_columns(results: dict, say=print) -> dict[str, float | None]:
    """Result columns from lm_eval's `results`: task_<task> = the main metric (METRIC_PREFERENCE; what the
    category averages use) and task_<task>.<metric>[_<filter>] for every number the task reports (stderrs
    included). A task without a main metric (perplexity-only, say) gets None there and a warning."""
    row: dict[str, float | None] = {}
    for task, metrics in results.items():
        main = main_metric(metrics)
        row[f"task_{task}"] = main
        if main is None:
            say(f"warning: task {task} reports none of {', '.join(METRIC_PREFERENCE)}: task_{task} is empty, "
                f"its metrics are in the task_{task}.* columns")
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metric, _, filt = key.partition(",")
                name = metric if filt in ("", "none") else f"{metric}_{filt}"
                row[f"task_{task}.{name}"] = float(value)
    return row


def run_harness(model, tasks: Sequence[str], include_path: str | None, scratch: str) -> dict[str, dict]:
    """{task: lm_eval's metrics dict} from lm_eval.simple_evaluate on an already loaded model."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from evals import local_tasks
    from evals.harness import CodeMixturesLM

    local_tasks.write_suites(scratch)
    paths = [scratch] + ([include_path] if include_path else [])
    names = list(tasks) or [name for name, _, _ in local_tasks.SUITES.values()]
    out = lm_eval.simple_evaluate(model=CodeMixturesLM(text_model=model), tasks=names,
                                  task_manager=TaskManager(include_path=paths), log_samples=False)
    return out["results"]


def evaluate_run(workdir: str, opts: EvalOptions, scratch: str) -> dict:
    """Everything the sweep records for a run, as a flat dict."""
    import numpy as np

    from evals import code, heldout
    from evals.checkpoint import load
    from evals.lm import TextModel

    start = time.time()
    loaded = load(workdir, opts.tokenizer)
    model = TextModel(loaded, opts.batch_size)
    row: dict = {"checkpoint": workdir, "step": loaded.step, "tokens_seen": loaded.meta.get("tokens_seen")}
    for r in heldout.evaluate(model.engine, opts.data, max_tokens=opts.heldout_tokens):
        row.update({f"heldout_{r.source}": r.loss, f"heldout_{r.source}_ci_low": r.ci_low,
                    f"heldout_{r.source}_ci_high": r.ci_high, f"heldout_{r.source}_tokens": r.tokens,
                    f"heldout_{r.source}_documents": r.documents})
    columns = task_columns(run_harness(model, opts.tasks, opts.include_path, scratch))
    row.update(columns)
    scores = {key[len("task_"):]: v for key, v in columns.items() if "." not in key}
    for name, members in (("nl_reasoning_avg", REASONING_TASKS), ("knowledge_avg", KNOWLEDGE_TASKS)):
        values = [v for t, v in scores.items() if t in members and v is not None]
        row[name] = float(np.mean(values)) if values else None
    passes = []
    if opts.humaneval_limit != 0:
        result = code.evaluate(model, code.load_humaneval(opts.humaneval_limit), workers=opts.workers,
                               max_new_tokens=opts.max_new_tokens)["humaneval"]
        row.update({"humaneval_pass@1": result["pass@1"], "humaneval_problems": result["problems"],
                    "humaneval_prompts_cut": result["prompts_cut"]})
        passes.append(result["pass@1"])
    if opts.mbpp:
        result = code.evaluate(model, code.load_mbpp(opts.mbpp), workers=opts.workers,
                               max_new_tokens=opts.max_new_tokens)["mbpp"]
        row.update({"mbpp_pass@1": result["pass@1"], "mbpp_problems": result["problems"],
                    "mbpp_prompts_cut": result["prompts_cut"]})
        passes.append(result["pass@1"])
    row["code_pass@1"] = float(np.mean(passes)) if passes else None
    row["eval_wall_s"] = round(time.time() - start, 1)
    return row


def write_json(path: str, body: dict) -> str:
    """Strict JSON (a NaN loss of a diverged run becomes null + "non_finite", trainer.metrics.strict_record)."""
    from tokens import paths
    from trainer.metrics import strict_record

    text = json.dumps(strict_record(body), indent=2, sort_keys=True, allow_nan=False) + "\n"
    paths.write_atomic(path, text.encode("utf-8"))
    return path
