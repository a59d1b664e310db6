"""The curate report: per-source funnel from the job's Beam counters, and its conservation check.

Counters come from namespace "curate" with names "<source>/<what>":
in, in_bytes, rejected/<reason key>, errors, exact_duplicates, near_duplicates,
kept, kept_bytes; pii/<kind> and pii_documents (spans and documents redacted, pipelines/redact: not
part of the conservation sum, a redacted document is still kept); duplicate_ids / duplicate_id_documents (user ids that several input
records carry: reported, never merged, outside the conservation sum). A source whose records
group several raw rows (Stack Exchange threads) also counts rows/in, rows/in_threads,
rows/rejected, rows/in_refused_files, and its row ledger must balance too. Names that do not
start with a source tag ("dedup/...") are
job-wide and reported as they are. No Beam import: the job hands over a dict.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from tokens import sources as source_tags

FORMAT_VERSION = 1
ROW_PARTS = ("in_threads", "rejected", "in_refused_files")   # where each raw row of a source ends


class InvariantError(RuntimeError):
    """in != kept + rejected + duplicates + errors for some source: a record went missing or was doubled."""


def counters_from_metrics(metric_results: Iterable[Any]) -> dict[str, int]:
    """Sum Beam MetricResults by counter name (one per step that used it); committed, else attempted."""
    totals: dict[str, int] = {}
    for m in metric_results:
        value = m.committed if m.committed is not None else m.attempted
        totals[m.key.metric.name] = totals.get(m.key.metric.name, 0) + int(value or 0)
    return totals


def source_funnel(source: str, counters: Mapping[str, int]) -> dict[str, Any]:
    """One source's row: counts, rejects per reason, percentages of `in`, and the invariant."""
    get = lambda what: int(counters.get(f"{source}/{what}", 0))   # noqa: E731
    prefix = f"{source}/rejected/"
    rejected = {k[len(prefix):]: int(v) for k, v in sorted(counters.items()) if k.startswith(prefix)}
    row: dict[str, Any] = {
        "in": get("in"), "in_bytes": get("in_bytes"),
        "rejected": rejected, "rejected_total": sum(rejected.values()),
        "exact_duplicates": get("exact_duplicates"), "near_duplicates": get("near_duplicates"),
        "errors": get("errors"), "kept": get("kept"), "kept_bytes": get("kept_bytes"),
        "duplicate_ids": {"ids": get("duplicate_ids"), "documents": get("duplicate_id_documents")},
        "pii": {"documents": get("pii_documents"),
                "spans": {k[len(f"{source}/pii/"):]: int(v) for k, v in sorted(counters.items())
                          if k.startswith(f"{source}/pii/")}},
    }
    accounted = row["kept"] + row["rejected_total"] + row["exact_duplicates"] + row["near_duplicates"] + row["errors"]
    pct = lambda n, d: round(100.0 * n / d, 2) if d else 0.0   # noqa: E731
    row["percent"] = {
        "kept": pct(row["kept"], row["in"]), "rejected": pct(row["rejected_total"], row["in"]),
        "exact_duplicates": pct(row["exact_duplicates"], row["in"]),
        "near_duplicates": pct(row["near_duplicates"], row["in"]),
        "errors": pct(row["errors"], row["in"]), "kept_bytes": pct(row["kept_bytes"], row["in_bytes"]),
    }
    row["invariant_ok"] = accounted == row["in"]
    row["unaccounted"] = row["in"] - accounted
    rows = _row_ledger(source, counters)
    if rows is not None:
        row["rows"] = rows
        row["invariant_ok"] = row["invariant_ok"] and rows["unaccounted"] == 0
    return row


def _row_ledger(source: str, counters: Mapping[str, int]) -> dict[str, int] | None:
    """Raw rows behind a source whose records are not one per row (Stack Exchange: a thread is a
    question plus its answers): rows/in = rows/in_threads + rows/rejected + rows/in_refused_files."""
    prefix = f"{source}/rows/"
    found = {k[len(prefix):]: int(v) for k, v in counters.items() if k.startswith(prefix)}
    if not found:
        return None
    ledger = {k: found.get(k, 0) for k in ROW_PARTS}
    ledger["unaccounted"] = found.get("in", 0) - sum(ledger.values())
    ledger["in"] = found.get("in", 0)
    return ledger


def build_report(counters: Mapping[str, int], sources: Iterable[str], extra: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """report.json content: funnel per source (sources with any counter too), job-wide counters, settings."""
    tags = set(source_tags.names())   # declared tags (tokens/sources.py); other prefixes are job-wide counters
    seen = {name.split("/", 1)[0] for name in counters if name.split("/", 1)[0] in tags}
    names = sorted(set(sources) | seen)
    funnel = {s: source_funnel(s, counters) for s in names}
    job_wide = {k: int(v) for k, v in sorted(counters.items()) if k.split("/", 1)[0] not in tags}
    return {"format_version": FORMAT_VERSION, "sources": funnel, "job_counters": job_wide,
            "invariant_ok": all(r["invariant_ok"] for r in funnel.values()), **dict(extra or {})}


def check_invariant(report: Mapping[str, Any]) -> None:
    bad = {s: r for s, r in report["sources"].items() if not r["invariant_ok"]}
    if bad:
        lines = [f"  {s}: in={r['in']} kept={r['kept']} rejected={r['rejected_total']} "
                 f"exact={r['exact_duplicates']} near={r['near_duplicates']} errors={r['errors']} "
                 f"unaccounted={r['unaccounted']}" + (f"; rows in={r['rows']['in']} unaccounted="
                                                      f"{r['rows']['unaccounted']}" if "rows" in r else "")
                 for s, r in bad.items()]
        raise InvariantError("CONSERVATION INVARIANT VIOLATED (in != kept + rejected + duplicates + errors):\n"
                             + "\n".join(lines))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return str(n)


def funnel_table(report: Mapping[str, Any]) -> str:
    """Markdown funnel: one row per source, then the rejects per reason."""
    head = ("| source | in | in bytes | rejected | exact dups | near dups | errors | kept | kept % | "
            "kept bytes | bytes % | ok |")
    lines = [head, "|" + "---|" * 12]
    for s, r in report["sources"].items():
        p = r["percent"]
        lines.append(f"| {s} | {r['in']} | {_size(r['in_bytes'])} | {r['rejected_total']} ({p['rejected']}%) | "
                     f"{r['exact_duplicates']} ({p['exact_duplicates']}%) | "
                     f"{r['near_duplicates']} ({p['near_duplicates']}%) | {r['errors']} | {r['kept']} | "
                     f"{p['kept']}% | {_size(r['kept_bytes'])} | {p['kept_bytes']}% | "
                     f"{'yes' if r['invariant_ok'] else 'NO'} |")
    shared = [(s, r["duplicate_ids"]) for s, r in report["sources"].items()
              if r.get("duplicate_ids", {}).get("ids")]
    if shared:
        lines += ["", "| source | user ids shared by several records | records carrying them |", "|---|---|---|"]
        lines += [f"| {s} | {d['ids']} | {d['documents']} |" for s, d in shared]
        lines += ["", "Records that share a user id are kept apart (each has its own file/row key); "
                      "they are only counted here."]
    ledgers = [(s, r["rows"]) for s, r in report["sources"].items() if "rows" in r]
    if ledgers:
        lines += ["", "| source | raw rows in | in kept-or-rejected threads | rejected rows | in refused files "
                      "| unaccounted |", "|---|---|---|---|---|---|"]
        lines += [f"| {s} | {g['in']} | {g['in_threads']} | {g['rejected']} | {g['in_refused_files']} | "
                  f"{g['unaccounted']} |" for s, g in ledgers]
    redacted = [(s, r["pii"]) for s, r in report["sources"].items() if r.get("pii", {}).get("documents")]
    if redacted:
        kinds = sorted({k for _, p in redacted for k in p["spans"]})
        lines += ["", "| source | documents with PII or secrets | " + " | ".join(f"{k} spans" for k in kinds) + " |",
                  "|" + "---|" * (2 + len(kinds))]
        lines += [f"| {s} | {p['documents']} | " + " | ".join(str(p["spans"].get(k, 0)) for k in kinds) + " |"
                  for s, p in redacted]
    reasons = [(s, k, n) for s, r in report["sources"].items() for k, n in r["rejected"].items()]
    if reasons:
        lines += ["", "| source | reject reason | documents | % of in |", "|---|---|---|---|"]
        for s, k, n in reasons:
            total = report["sources"][s]["in"]
            lines.append(f"| {s} | {k} | {n} | {round(100.0 * n / total, 2) if total else 0.0}% |")
    return "\n".join(lines)


def render_markdown(report: Mapping[str, Any], chart: str | None = None) -> str:
    """report.md; `chart` is a picture's path relative to report.md, shown above the table."""
    parts = ["# Curation report", ""] + ([f"![Curation funnel per source]({chart})", ""] if chart else [])
    parts += [funnel_table(report), ""]
    if report.get("job_counters"):
        parts += ["## Job counters", "", "| counter | value |", "|---|---|"]
        parts += [f"| {k} | {v} |" for k, v in report["job_counters"].items()] + [""]
    parts.append(f"Conservation invariant (in = kept + rejected + duplicates + errors): "
                 f"{'holds for every source' if report['invariant_ok'] else 'VIOLATED'}.")
    if report.get("decontaminated_against"):
        used = report["decontaminated_against"]
        parts += ["", "Decontaminated against: " + ", ".join(f"{k} ({v} items)" for k, v in used["sets"].items())
                  + f"; index: {used['index']}."]
    if report.get("sandbox"):
        box = report["sandbox"]
        parts += ["", f"Synthetic verification sandbox ({box['mode']}, {box['python']}): "
                      f"{', '.join(box['layers'])}" + (f"; MISSING {', '.join(box['missing'])}" if box["missing"] else "")]
    if report.get("command"):
        parts += ["", f"Command: `{report['command']}`"]
    return "\n".join(parts) + "\n"


def to_json(report: Mapping[str, Any]) -> bytes:
    return (json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
