"""funnel.png: the curate report as one picture, a 100% bar per source.

Left to right each bar follows the job: documents rejected by the filters (the top
reasons each get a segment, the rest are "other rejects"), then exact duplicates, near
duplicates, errors, and what was kept, with counts and percentages of `in`. Built from
report.json's "sources" (pipelines.report.funnel), so the picture and the table cannot disagree;
a report whose numbers do not add up is refused rather than drawn (ValueError).
matplotlib (Agg) is imported only when a chart is rendered.
"""
from __future__ import annotations

import dataclasses
import io as _io
from collections.abc import Mapping
from typing import Any

TOP_REASONS = 3          # reject reasons drawn as their own segment per source
SHOWN_REASONS = 4        # reject reasons named in the line under each bar
_REJECT_COLOURS = ("#d62728", "#ff7f0e", "#e377c2")   # the source's 1st, 2nd, 3rd most frequent reason
_COLOURS = {"other rejects": "#bcbd22", "exact duplicates": "#1f77b4", "near duplicates": "#9ecae1",
            "errors": "#222222", "kept": "#2ca02c"}


@dataclasses.dataclass(frozen=True)
class Segment:
    label: str       # reason key, "other rejects", "exact duplicates", "near duplicates", "errors", "kept"
    count: int
    colour: str


@dataclasses.dataclass(frozen=True)
class Row:
    source: str
    total: int
    segments: tuple[Segment, ...]
    reasons: tuple[tuple[str, int], ...]   # every reject reason, most frequent first


def _count(row: Mapping[str, Any], key: str, source: str) -> int:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"funnel chart: {source}.{key} must be a count >= 0, got {value!r}")
    return value


def chart_rows(report: Mapping[str, Any], top_reasons: int = TOP_REASONS) -> list[Row]:
    """Per source, the bar segments in funnel order; ValueError when the counts are inconsistent."""
    if not 0 <= top_reasons <= len(_REJECT_COLOURS):
        raise ValueError(f"funnel chart: top_reasons must be 0..{len(_REJECT_COLOURS)}, got {top_reasons}")
    sources = report.get("sources")
    if not isinstance(sources, Mapping) or not sources:
        raise ValueError("funnel chart: report has no sources")
    rows = []
    for source, row in sources.items():
        total = _count(row, "in", source)
        rejected = row.get("rejected")
        if not isinstance(rejected, Mapping):
            raise ValueError(f"funnel chart: {source}.rejected must map reason -> count")
        reasons = sorted(((k, _count(rejected, k, source)) for k in rejected), key=lambda kv: (-kv[1], kv[0]))
        if sum(n for _, n in reasons) != _count(row, "rejected_total", source):
            raise ValueError(f"funnel chart: {source}: rejected per reason sums to {sum(n for _, n in reasons)}, "
                             f"rejected_total is {row['rejected_total']}")
        segments = [Segment(k, n, _REJECT_COLOURS[i]) for i, (k, n) in enumerate(reasons[:top_reasons]) if n]
        segments.append(Segment("other rejects", sum(n for _, n in reasons[top_reasons:]), _COLOURS["other rejects"]))
        for label, key in (("exact duplicates", "exact_duplicates"), ("near duplicates", "near_duplicates"),
                           ("errors", "errors"), ("kept", "kept")):
            segments.append(Segment(label, _count(row, key, source), _COLOURS[label]))
        if sum(s.count for s in segments) != total:
            raise ValueError(f"funnel chart: {source}: in={total} but its parts sum to "
                             f"{sum(s.count for s in segments)} (conservation invariant broken)")
        rows.append(Row(source, total, tuple(s for s in segments if s.count), tuple(r for r in reasons if r[1])))
    return rows


def _pct(n: int, total: int) -> str:
    p = 100.0 * n / total if total else 0.0
    return f"{p:.0f}%" if p >= 9.5 else f"{p:.1f}%"


def render_png(report: Mapping[str, Any], top_reasons: int = TOP_REASONS) -> bytes:
    """PNG bytes of the funnel chart (same report and matplotlib version => same bytes)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = chart_rows(report, top_reasons)
    fig = Figure(figsize=(13, 1.5 + 1.0 * len(rows)), dpi=100)
    ax = fig.add_subplot()
    for y, row in enumerate(rows):
        left = 0.0
        for seg in row.segments:
            width = 100.0 * seg.count / row.total
            ax.barh(y, width, left=left, height=0.55, color=seg.colour, edgecolor="white", linewidth=0.8)
            if width >= 7:   # label inside only where it fits; the line below lists every reject reason
                text_colour = "white" if seg.colour in ("#222222", "#1f77b4", "#d62728", "#2ca02c") else "black"
                ax.text(left + width / 2, y, f"{seg.count:,}\n{_pct(seg.count, row.total)}", ha="center",
                        va="center", fontsize=8, color=text_colour)
            left += width
        kept = next((s.count for s in row.segments if s.label == "kept"), 0)
        count = {seg.label: seg.count for seg in row.segments}
        n_rejected = sum(n for _, n in row.reasons)
        detail = ", ".join(f"{k} {n:,} ({_pct(n, row.total)})" for k, n in row.reasons[:SHOWN_REASONS])
        if len(row.reasons) > SHOWN_REASONS:
            detail += f", +{len(row.reasons) - SHOWN_REASONS} more"
        detail = f"rejected {n_rejected:,} ({_pct(n_rejected, row.total)}){': ' + detail if detail else ''}"
        ax.text(0, y + 0.42, detail, fontsize=7.5, va="center", color="#333333")
        side = [f"in {row.total:,}"] + [
            f"{label} {count.get(label, 0):,} ({_pct(count.get(label, 0), row.total)})"
            for label in ("exact duplicates", "near duplicates", "errors")] + [
            f"kept {kept:,} ({_pct(kept, row.total)})"]
        ax.text(101, y + 0.1, "\n".join(side), fontsize=7.5, va="center", linespacing=1.25)
    ax.set_yticks(range(len(rows)), [r.source for r in rows], fontsize=10, fontweight="bold")
    ax.set_ylim(len(rows) - 0.4, -0.7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the source's input documents (%)")
    ax.spines[["top", "right"]].set_visible(False)
    legend = [Patch(color=c, label=f"reject reason #{i + 1}") for i, c in enumerate(_REJECT_COLOURS[:top_reasons])]
    legend += [Patch(color=c, label=label) for label, c in _COLOURS.items()]
    ax.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(legend), fontsize=8,
              frameon=False)
    fig.suptitle("Curation funnel per source, left to right: rejected -> exact dups -> near dups -> errors -> kept",
                 fontsize=11, y=0.995)
    fig.subplots_adjust(left=0.11, right=0.85, top=1 - 0.75 / fig.get_figheight(),
                        bottom=0.6 / fig.get_figheight())
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
