"""How `mixer build` and `mixer inspect` show a mixture: the resolved table and a composition plot.

Presentation only; loading and checking recipes is the library API (mixer/api.py)."""
from __future__ import annotations

import posixpath

from mixer.budget import format_tokens


def format_table(mixture: dict) -> str:
    """Source, share %, target tokens, available tokens, epochs; then the totals and any warnings."""
    rows = [("source", "share %", "target", "available", "documents", "epochs")]
    for name, e in sorted(mixture["sources"].items(), key=lambda kv: (-kv[1]["weight"], kv[0])):
        rows.append((name, f"{e['weight'] * 100:.2f}", format_tokens(e["target_tokens"]),
                     format_tokens(e["available_tokens"]), f"{e['documents']:,}", f"{e['epochs']:.3f}"))
    rows.append(("total", f"{sum(e['weight'] for e in mixture['sources'].values()) * 100:.2f}",
                 format_tokens(mixture["total_tokens"]),
                 format_tokens(sum(e["available_tokens"] for e in mixture["sources"].values())),
                 f"{sum(e['documents'] for e in mixture['sources'].values()):,}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{mixture['name']}  stage={mixture['stage']}  init_from={mixture.get('init_from')}  "
             f"schedule={mixture['schedule'].get('kind')}  tokens={format_tokens(mixture['total_tokens'])}  "
             f"seq_len={mixture['seq_len']}  seed={mixture['seed']}"]
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"WARNING: {w}" for w in mixture.get("warnings", [])]
    return "\n".join(lines)


def plot_stages(stages: list[tuple[str, dict]], out_path: str, title: str = "") -> str:
    """Stacked bars of token shares per stage (each bar is 100% of its stage), x labels give the budgets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({s for _, m in stages for s in m["sources"]})
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    # At least 6 in wide: a one-stage chart was narrower than its title, which got cut at both ends.
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 + 1.6 * len(stages)), 4.8))
    for x, (stage, m) in enumerate(stages):
        bottom = 0.0
        for n in names:
            share = m["sources"].get(n, {}).get("weight", 0.0) * 100
            if share <= 0:
                continue
            ax.bar(x, share, bottom=bottom, color=colours[n], width=0.6, edgecolor="white",
                   label=(f"{n} ({share:.1f}%)" if len(stages) == 1 else n)   # small slices carry no text
                   if x == [i for i, (_, mm) in enumerate(stages) if n in mm["sources"]][0] else None)
            if share >= 4:
                ax.text(x, bottom + share / 2, f"{n}\n{share:.1f}%", ha="center", va="center", fontsize=8)
            bottom += share
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels([f"{stage}\n{format_tokens(m['total_tokens'])} tokens" for stage, m in stages])
    ax.set_ylabel("share of the stage's tokens (%)")
    ax.set_ylim(0, 100)
    if not title:
        first_name, first_stage = stages[0][1]["name"], stages[0][0]
        title = first_name[: -len(first_stage) - 1] if len(stages) > 1 and first_name.endswith(
            "-" + first_stage) else first_name
    ax.set_title(f"{title}: token shares per stage")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    parent = posixpath.dirname(out_path)
    if parent:
        import os

        os.makedirs(parent, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path
