"""The curate job's own files in OUTPUT: what it may delete before writing, and the report after.

A job deletes only what it can prove it wrote: its shard names inside its own folders (from a literal
listing), and the report files only when the previous run's completion record lists them (a user's own
`report.md` is refused, never deleted or overwritten). The report's counters are reconciled with the
rows actually published, so a writer that lost a row breaks the invariant instead of passing it. The
completion record (tokens/completion.py) goes last and lists every shard with its rows and bytes: the
tokenizer stages refuse a folder without it.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence

from apache_beam.metrics.metric import MetricsFilter

from tokens import paths
from pipelines.report import funnel
from pipelines.steps import NAMESPACE
from tokens import completion

JOB = "curate"

CHART_NAME = "funnel.png"   # next to report.md, linked from it
REPORT_FILES = ("report.json", "report.md", CHART_NAME)
_SHARD_NAME = re.compile(r"^part-\d{5}-of-\d{5}\.parquet$")             # what the Parquet sinks publish
_BEAM_TEMP = re.compile(r"^beam-temp-part-[0-9a-f]{32}$")               # their temporaries (crashed runs)
_SHARD_TEMP = re.compile(r"^\.part-\d{5}-of-\d{5}\.parquet\.tmp-[0-9a-f]{32}$")   # sinks.WriteParquetShards'


def remove_stale_shards(output_root: str, sources: Sequence[str]) -> None:
    """Before the job writes: retract the previous report, delete its shards and temporaries.

    Only names of our own pattern directly inside our own folders (OUTPUT/kept|rejected/<source>/), from
    a literal listing: `--output 'out[1]'` never touches `out1`. The report goes first, so a run that
    fails later (full disk, crash) leaves no report describing shards that are gone.

    Report files are deleted only when the previous run's completion record lists them; one that
    exists without being listed is someone else's file: SystemExit naming it, nothing deleted."""
    previous = completion.read_record_or_none(output_root)
    listed = set(previous["files"]) if previous and previous.get("job") == JOB else set()
    foreign = [name for name in REPORT_FILES if name not in listed and paths.exists(paths.join(output_root, name))]
    if foreign:
        raise SystemExit(f"curate: {', '.join(paths.join(output_root, n) for n in foreign)} already exist(s) and no "
                         f"earlier curate run's {completion.RECORD_NAME} lists them: curate would overwrite them. "
                         "Move them away or choose another --output")
    for name in REPORT_FILES:   # before the record goes: a kill in between leaves them listed, never foreign
        if name in listed:
            paths.delete(paths.join(output_root, name))
    completion.retract(output_root)   # from here on the folder is not a finished run's output
    for kind in ("kept", "rejected"):
        for source in sources:
            folder = paths.join(output_root, kind, source)
            for name in paths.list_dir(folder):
                if _SHARD_NAME.match(name) or _SHARD_TEMP.match(name):
                    paths.delete(paths.join(folder, name))
                elif _BEAM_TEMP.match(name) and "://" not in folder:
                    shutil.rmtree(os.path.join(folder, name))   # gs:// temporaries are renamed away per file
    remove_spill(output_root)   # a crashed run's pass-1 spills


def remove_spill(output_root: str) -> None:
    """Delete OUTPUT/.curate-spill/ (pass 1's per-item files, pipelines/spill.py), by literal names."""
    from pipelines.spill import SPILL_FOLDER
    folder = paths.join(output_root, SPILL_FOLDER)
    if "://" not in folder:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for name in paths.list_dir(folder):
        paths.delete(paths.join(folder, name))


def shard_rows(output_root: str, sources: Sequence[str]) -> dict[str, int]:
    """{"kept/<source>/part-...parquet": rows} for every published shard, from the footers (no data read)."""
    import pyarrow.parquet as pq
    out = {}
    for source in sources:
        for kind in ("kept", "rejected"):
            folder = paths.join(output_root, kind, source)
            for name in paths.list_dir(folder):
                if _SHARD_NAME.match(name):
                    with paths.open_read(paths.join(folder, name)) as f:
                        out[f"{kind}/{source}/{name}"] = pq.read_metadata(f).num_rows
    return out


def rows_written(output_root: str, sources: Sequence[str], shards: dict[str, int] | None = None
                 ) -> dict[str, dict[str, int]]:
    """Rows in the published Parquet shards per source and kind, from their footers (no data read)."""
    shards = shard_rows(output_root, sources) if shards is None else shards
    out = {source: {"kept": 0, "rejected": 0} for source in sources}
    for rel, rows in shards.items():
        kind, source, _ = rel.split("/", 2)
        out[source][kind] += rows
    return out


def reconcile_written(report: dict, written: dict[str, dict[str, int]]) -> list[str]:
    """The counters must equal the rows on disk: a writer that lost (or doubled) a row breaks the invariant.

    Adds "written" per source and clears invariant_ok where they differ; returns the differences."""
    problems = []
    for source, row in report["sources"].items():
        have = written.get(source, {"kept": 0, "rejected": 0})
        row["written"] = have
        want = {"kept": row["kept"], "rejected": row["rejected_total"] + row["exact_duplicates"]
                + row["near_duplicates"] + row["errors"]}
        for kind in ("kept", "rejected"):
            if have[kind] != want[kind]:
                row["invariant_ok"] = False
                problems.append(f"  {source}: {want[kind]} {kind} counted, {have[kind]} rows in "
                                f"{kind}/{source}/part-*.parquet")
    report["invariant_ok"] = report["invariant_ok"] and not problems
    return problems


def finish_report(result, output_root: str, sources: Sequence[str], extra: dict) -> dict:
    """Counters -> report.json, funnel.png, report.md (atomic); the caller checks the invariant.

    The counted kept and rejected documents are reconciled with the rows in the written shards
    (report["written"]); a report that breaks the invariant gets no chart (it would not add up)
    and report.md says VIOLATED."""
    from pipelines.report import chart
    metrics = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    report = funnel.build_report(funnel.counters_from_metrics(metrics), sources, extra)
    shards = shard_rows(output_root, sources)
    report["written_mismatch"] = reconcile_written(report, rows_written(output_root, sources, shards))
    paths.write_atomic(paths.join(output_root, "report.json"), funnel.to_json(report))
    picture = None
    if report["invariant_ok"]:
        picture = CHART_NAME
        paths.write_atomic(paths.join(output_root, picture), chart.render_png(report))
    else:
        paths.delete(paths.join(output_root, CHART_NAME))   # an earlier run's picture would not match this report
    paths.write_atomic(paths.join(output_root, "report.md"), funnel.render_markdown(report, picture).encode("utf-8"))
    # Last: the record that makes the folder a finished run's output (ok: false when the invariant broke).
    listed = {**shards, "report.json": None, "report.md": None, **({picture: None} if picture else {})}
    completion.write_record(output_root, JOB, listed, {
        "sources": list(sources), "ok": bool(report["invariant_ok"]),
        "rows": {s: {"kept": r["kept"], "in": r.get("in")} for s, r in report["sources"].items()}})
    return report
