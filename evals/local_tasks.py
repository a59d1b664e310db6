"""lm-evaluation-harness task configs over local JSONL files, for offline runs and tests.

The harness loads any task from a YAML file in a directory given with `--include_path`; these functions
write such YAMLs with absolute `data_files` paths (the harness resolves relative ones against the working
directory, not the YAML). Three kinds, each the harness's own output type and metrics:
  multiple_choice  rows {"query", "choices": [...], "gold": index}      -> acc, acc_norm
  generate_until   rows {"question", "answer"}                          -> exact_match (case/punct. ignored)
  rolling          rows {"text"}                                        -> word/byte perplexity, bits per byte

`SUITES` are the sets shipped in evals/tasks/ (hand-written, small, public-domain facts and everyday
reasoning): enough to exercise every request type on the sample corpus, far too small and too easy to stand
in for the paper's benchmarks (docs/paper.md, "Evaluation"), which the same commands run where their data is reachable.
"""
from __future__ import annotations

import json
import os

TASK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")
# suite -> (task name, kind, shipped JSONL); categories follow the paper's grouping.
SUITES = {
    "reasoning": ("cm_local_reasoning", "multiple_choice", "reasoning.jsonl"),
    "knowledge": ("cm_local_knowledge", "generate_until", "knowledge.jsonl"),
}


def task_yaml(name: str, kind: str, data_path: str) -> str:
    """The YAML text of one harness task over `data_path` (JSON, so it is also valid YAML)."""
    body = {"task": name, "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": os.path.abspath(data_path)}}, "test_split": "test"}
    if kind == "multiple_choice":
        body.update(output_type="multiple_choice", doc_to_text="{{query}}", doc_to_choice="{{choices}}",
                    doc_to_target="{{gold}}",
                    metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                                 {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}])
    elif kind == "generate_until":
        body.update(output_type="generate_until", doc_to_text="Question: {{question}}\nAnswer:",
                    doc_to_target=" {{answer}}",
                    generation_kwargs={"until": ["\n", "."], "max_gen_toks": 16, "do_sample": False},
                    metric_list=[{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                                  "ignore_case": True, "ignore_punctuation": True}])
    elif kind == "rolling":
        body.update(output_type="loglikelihood_rolling", doc_to_text="", doc_to_target="{{text}}",
                    metric_list=[{"metric": m} for m in ("word_perplexity", "byte_perplexity", "bits_per_byte")])
    else:
        raise ValueError(f"unknown task kind {kind!r}")
    return json.dumps(body, indent=2, allow_nan=False) + "\n"


def write_task(directory: str, name: str, kind: str, data_path: str) -> str:
    """Write DIRECTORY/<name>.yaml; returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.yaml")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(task_yaml(name, kind, data_path))
    os.replace(tmp, path)
    return path


def write_suites(directory: str) -> dict[str, str]:
    """The shipped suites as harness tasks under `directory`; returns {suite: task name}."""
    out = {}
    for suite, (name, kind, filename) in SUITES.items():
        write_task(directory, name, kind, os.path.join(TASK_DIR, filename))
        out[suite] = name
    return out
