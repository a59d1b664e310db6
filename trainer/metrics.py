"""Run metrics: JSON lines (RUN/metrics.jsonl), TensorBoard events (RUN/tb) and the per-source loss plot.

Only process 0 writes. Each record is one line {"kind": "train"|"eval"|"info", "step": N, ...}; the file is
appended and flushed per line, so a crashed run keeps everything logged before the crash, and a resumed run
appends after it (steps > the restored step). Remote workdirs (gs://) are written through tokens.paths
by rewriting the whole file at each flush (it is small: one line per log interval).
"""
from __future__ import annotations

import io
import json
import math
import os
from typing import Any

from tokens import paths

METRICS_NAME = "metrics.jsonl"
PLOT_NAME = "loss_per_source.png"


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    """Every record of RUN/metrics.jsonl (empty when absent)."""
    path = paths.join(workdir, METRICS_NAME)
    if not paths.exists(path):
        return []
    text = paths.read_bytes(path).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class MetricsWriter:
    """Append-only JSONL + TensorBoard scalars; a no-op on processes other than 0."""

    def __init__(self, workdir: str, enabled: bool = True, tensorboard: bool = True):
        self.workdir, self.enabled = workdir, enabled
        self._remote = paths.is_remote(workdir)
        self._path = paths.join(workdir, METRICS_NAME)
        self._lines: list[str] = []
        self._tb = None
        if not enabled:
            return
        if self._remote:
            self._lines = [json.dumps(r, sort_keys=True, allow_nan=False) for r in read_metrics(workdir)]
        else:
            os.makedirs(workdir, exist_ok=True)
        if tensorboard:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(paths.join(workdir, "tb"))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(strict_record(record), sort_keys=True, allow_nan=False)
        if self._remote:
            self._lines.append(line)
            paths.write_atomic(self._path, ("\n".join(self._lines) + "\n").encode("utf-8"))
        else:
            try:
                with open(self._path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError as e:   # a full disk names the file
                raise paths.write_error(e, self._path) from e
        if self._tb is not None and "step" in record:
            prefix = record.get("kind", "train")
            for key, value in _flatten(record):
                if key not in ("step", "kind") and isinstance(value, (int, float)) and math.isfinite(value):
                    self._tb.add_scalar(f"{prefix}/{key}", value, record["step"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def strict_record(record: dict[str, Any]) -> dict[str, Any]:
    """`record` as strict JSON data: a diverged value (NaN/inf loss) becomes null and its dotted key is
    listed under "non_finite" with what it was, so the line parses anywhere and the event stays visible.
    Also used for the evaluation results (evals/), which carry losses too."""
    found: dict[str, str] = {}

    def clean(value, key):
        if isinstance(value, float) and not math.isfinite(value):
            found[key] = str(value)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{key}.{i}") for i, v in enumerate(value)]
        return value

    out = clean(record, "")
    if found:
        out["non_finite"] = found
    return out


def _flatten(record: dict[str, Any], prefix: str = ""):
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}/")
        elif not isinstance(value, bool):
            yield f"{prefix}{key}", value


def plot_loss_per_source(workdir: str, out_path: str | None = None) -> str | None:
    """RUN/loss_per_source.png: train loss per source (solid) and held-out eval loss per source (dashed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(workdir)
    train = [r for r in records if r.get("kind") == "train" and r.get("loss_per_source")]
    evals = [r for r in records if r.get("kind") == "eval" and r.get("loss_per_source")]
    if not train and not evals:
        return None
    sources = sorted({s for r in train + evals for s in r["loss_per_source"]})
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, source in enumerate(sources):
        color = colors[i % len(colors)]
        for rows, style, label in ((train, "-", "train"), (evals, "--o", "held-out")):
            points = [(r["step"], r["loss_per_source"][source]) for r in rows
                      if r["loss_per_source"].get(source) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, color=color, label=f"{source} ({label})", markersize=3)
    if train:
        ax.plot([r["step"] for r in train], [math.nan if r["loss"] is None else r["loss"] for r in train], ":",
                color="black", label="all (train)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_title(f"loss per source: {os.path.basename(workdir.rstrip('/'))}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_path = out_path or paths.join(workdir, PLOT_NAME)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    paths.write_atomic(out_path, buf.getvalue())
    return out_path
