"""Beam's `--dry_run`: build and translate a stage's job graph, submit nothing, touch no data.

`python -m pipelines.launch --dry-run <stage> ...` adds `--dry_run=True`; with the
DataflowRunner the job is translated (runner v2 proto, container image, options) and
returned without being created. A stage's run() checks `is_dry_run(options)` and then
skips everything around the graph that reads or writes storage: stale-output cleanup,
listing gs:// to discover sources (so a dry run needs `--sources`), reports,
manifests and metrics queries. What a dry run proves: the graph builds, pickles and
translates with these options; what it cannot: that the input exists.
"""
from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import (
    DebugOptions, GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions, WorkerOptions)


def is_dry_run(options: PipelineOptions) -> bool:
    return bool(options.view_as(TestOptions).dry_run)


def require_sources(stage: str, sources: str | None) -> None:
    """A dry run lists nothing, so the sources (families) must be named on the command line."""
    if not sources:
        raise SystemExit(f"{stage}: a dry run lists no storage; pass --sources explicitly")


def summary(result: Any, options: PipelineOptions) -> dict[str, Any]:
    """What the translated job would run: top-level step labels, runner, worker image, runner v2."""
    job = getattr(result, "job", None)
    proto = getattr(job, "proto_pipeline", None)
    steps: list[str] = []
    if proto is not None:   # top-level labels ("Read stack", "write shard"); composites hold the rest
        transforms = proto.components.transforms
        roots = [transforms[t] for t in proto.root_transform_ids]
        steps = sorted({transforms[s].unique_name if r.subtransforms else r.unique_name
                        for r in roots for s in (r.subtransforms or [""])})
    return {
        "dry_run": True,
        "runner": options.view_as(StandardOptions).runner,
        "job_name": options.view_as(GoogleCloudOptions).job_name,
        "project": options.view_as(GoogleCloudOptions).project,
        "region": options.view_as(GoogleCloudOptions).region,
        "sdk_container_image": options.view_as(WorkerOptions).sdk_container_image,
        "runner_v2": bool(options.view_as(DebugOptions).lookup_experiment("use_runner_v2")),
        "steps": steps,
        "job": job,                     # apiclient.Job with .proto_pipeline (Dataflow) or None
    }


def print_summary(stage: str, info: dict[str, Any]) -> None:
    print(f"{stage}: dry run on {info['runner']} (job {info['job_name']}, project {info['project']}, "
          f"region {info['region']}, runner v2: {info['runner_v2']}, image {info['sdk_container_image'] or '-'}); "
          f"nothing submitted or written")
    for step in info["steps"]:
        print(f"  {step}")
