"""Evaluation of the trainer's checkpoints: inference (log-likelihood, KV-cached generation), an
lm-evaluation-harness adapter, HumanEval/MBPP pass@k in the project's sandbox, per-source held-out loss,
and the paper's sweeps (`python -m evals sweep|compare`). Imports `trainer`; `trainer` never imports this."""
