"""`python -m evals compare EXP`: the sweep's table (mean ± std over seeds) and plots in the paper's style.

Plots (EXP/compare.png): one panel per metric, x = the recipe's code share (% of its tokens from code-family
sources, all stages), y = NL-reasoning average, world-knowledge average, code pass@1 and the held-out loss of
every source; a point per recipe at the mean over seeds with a ±1 std error bar. The code-N sweep recipes are
joined by a line (the paper's Figure 2-4 style); other recipes (Table 2) are labelled markers.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict

import numpy as np

HEADLINE = ("nl_reasoning_avg", "knowledge_avg", "code_pass@1", "humaneval_pass@1", "mbpp_pass@1")
TITLES = {"nl_reasoning_avg": "NL reasoning (avg acc)", "knowledge_avg": "World knowledge (avg EM)",
          "code_pass@1": "Code pass@1 (mean of the sets)", "humaneval_pass@1": "HumanEval pass@1",
          "mbpp_pass@1": "MBPP pass@1"}


def read_rows(output: str) -> list[dict]:
    from tokens import paths

    with paths.open_read(paths.join(output, "results.csv")) as f:
        rows = list(csv.DictReader(io.StringIO(f.read().decode("utf-8"))))
    for row in rows:
        for key, value in row.items():
            try:
                row[key] = float(value) if value != "" else None
            except ValueError:
                pass
    return rows


def metrics(rows: list[dict]) -> list[str]:
    held = sorted({k for r in rows for k in r if k.startswith("heldout_") and k.count("_") == 1})
    tasks = sorted({k for r in rows for k in r if k.startswith("task_") and "." not in k})   # main metrics
    return [m for m in HEADLINE if any(r.get(m) is not None for r in rows)] + held + tasks


def aggregate(rows: list[dict], names: list[str]) -> list[dict]:
    """One entry per recipe: code share, seeds, and (mean, std, n) per metric."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["recipe"]].append(row)
    out = []
    for recipe, members in groups.items():
        entry = {"recipe": recipe, "code_share": float(members[0]["code_share"]), "seeds": len(members)}
        for name in names:
            values = np.array([m[name] for m in members if isinstance(m.get(name), float)])
            entry[name] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None,
                           len(values)) if len(values) else None
        out.append(entry)
    return sorted(out, key=lambda e: (e["code_share"], e["recipe"]))


def table(entries: list[dict], names: list[str]) -> str:
    head = ["recipe", "code %", "seeds"] + [n.replace("heldout_", "loss ").replace("task_", "") for n in names]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for e in entries:
        cells = [e["recipe"], f"{e['code_share']:.1f}", str(e["seeds"])]
        for n in names:
            v = e.get(n)
            cells.append("-" if v is None else f"{v[0]:.4f} (1 seed, no spread)" if v[1] is None
                         else f"{v[0]:.4f} ± {v[1]:.4f}")
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def plot(entries: list[dict], names: list[str], path: str, title: str = "") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tokens import paths

    panels = [n for n in names if not n.startswith("task_")]
    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), panels):
        sweep = [e for e in entries if e["recipe"].startswith("code-") and e.get(name)]
        other = [e for e in entries if not e["recipe"].startswith("code-") and e.get(name)]
        if sweep:
            ax.errorbar([e["code_share"] for e in sweep], [e[name][0] for e in sweep],
                        yerr=[e[name][1] or 0.0 for e in sweep], marker="o", capsize=3, color="tab:blue",
                        label="code-N sweep")
        for i, e in enumerate(other):
            ax.errorbar([e["code_share"]], [e[name][0]], yerr=[e[name][1] or 0.0], marker="s^Dvp"[i % 5], capsize=3,
                        color=f"C{i + 1}", linestyle="none", label=e["recipe"])
        label = TITLES.get(name) or f"held-out loss: {name[len('heldout_'):]} (nats/token)"
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("code share of training tokens (%)")
        ax.grid(alpha=0.3)
        if other:
            ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    paths.write_atomic(path, buffer.getvalue())
    return path


def compare(output: str, say=print) -> dict:
    """Table and plots of EXP; results.csv is first rebuilt from the runs' result.json files, so an EXP whose
    runs were evaluated elsewhere (TPU hosts writing result.json to gs://) compares the same way."""
    from tokens import paths

    from evals.sweep import collect, write_csv

    finished = collect(output)
    if finished:
        write_csv(output, finished)
    rows = read_rows(output)
    if not rows:
        raise ValueError(f"{output}/results.csv holds no finished runs")
    names = metrics(rows)
    entries = aggregate(rows, names)
    say(table(entries, names))
    seeds = sorted({int(r["seed"]) for r in rows})
    path = plot(entries, names, paths.join(output, "compare.png"),
                f"{output}: {len(rows)} runs, seeds {seeds}; error bars = ±1 std over seeds")
    if any(v is not None and v[1] is None for e in entries for v in (e.get(n) for n in names)):
        say("note: a value marked '1 seed' has no spread to show; run more seeds (--seeds) for an error bar")
    say(f"wrote {path}")
    return {"entries": entries, "plot": path}
