"""Launch a stage on Dataflow with the common options filled from one small YAML file.

    python -m pipelines.launch --config dataflow.yaml curate -- --input gs://b/raw --output gs://b/curated

Every researcher's launch differs only in the job's own flags; project, region, bucket,
worker shape and container live in the YAML (see `docs/dataflow.example.yaml`).
`--print-only` prints the full command instead of running it, so it can be pasted,
reviewed or put in a ticket.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import shlex
import sys
from typing import Sequence

# Stage name -> module whose run(argv) builds and runs the Beam job.
STAGES = {
    "curate": "pipelines.curate",
    "train_tokenizer": "pipelines.train_tokenizer",
    "tokenize": "pipelines.tokenize",
}
_BUCKET = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$")


@dataclasses.dataclass(frozen=True)
class DataflowConfig:
    project: str
    region: str = "us-central1"
    bucket: str = ""                       # gs://bucket[/prefix]: temp/ and staging/ go under it
    worker_machine_type: str = "n2-standard-8"
    max_num_workers: int = 100
    disk_size_gb: int = 100
    sdk_container_image: str = ""          # built from ./Dockerfile; empty => --setup_file ./setup.py
    setup_file: str = "./setup.py"
    service_account_email: str = ""
    network: str = ""
    subnetwork: str = ""
    use_public_ips: bool = True
    experiments: tuple[str, ...] = ("use_runner_v2",)
    labels: tuple[str, ...] = ()           # key=value pairs shown in the Dataflow UI and billing

    def __post_init__(self):
        if not self.project:
            raise ValueError("dataflow config: 'project' is required")
        if not _BUCKET.match(self.bucket):
            raise ValueError(f"dataflow config: 'bucket' must look like gs://bucket[/prefix], got {self.bucket!r}")


def load_config(path: str) -> DataflowConfig:
    import yaml

    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of option: value")
    known = {f.name for f in dataclasses.fields(DataflowConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in ("experiments", "labels"):
        if key in raw:
            raw[key] = tuple(raw[key])
    return DataflowConfig(**raw)


def beam_args(cfg: DataflowConfig, stage: str, job_name: str | None = None) -> list[str]:
    """The Beam pipeline options for `stage`, in the form PipelineOptions parses."""
    bucket = cfg.bucket.rstrip("/")
    args = [
        "--runner=DataflowRunner",
        f"--project={cfg.project}",
        f"--region={cfg.region}",
        f"--temp_location={bucket}/temp",
        f"--staging_location={bucket}/staging",
        f"--job_name={job_name or 'code-mixtures-' + stage.replace('_', '-')}",
        f"--worker_machine_type={cfg.worker_machine_type}",
        f"--max_num_workers={cfg.max_num_workers}",
        f"--disk_size_gb={cfg.disk_size_gb}",
    ]
    args += [f"--experiments={e}" for e in cfg.experiments]
    if cfg.sdk_container_image:
        args.append(f"--sdk_container_image={cfg.sdk_container_image}")
    else:
        args.append(f"--setup_file={cfg.setup_file}")
    for flag, value in (("service_account_email", cfg.service_account_email),
                        ("network", cfg.network), ("subnetwork", cfg.subnetwork)):
        if value:
            args.append(f"--{flag}={value}")
    if not cfg.use_public_ips:
        args.append("--no_use_public_ips")
    args += [f"--labels={label}" for label in cfg.labels]
    return args


def command(cfg: DataflowConfig, stage: str, job_args: Sequence[str], job_name: str | None = None) -> list[str]:
    return [sys.executable, "-m", STAGES[stage], *job_args, *beam_args(cfg, stage, job_name)]


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.launch", description=__doc__.split("\n\n")[0],
        epilog="Arguments after the stage (optionally after --) go to the stage's own CLI.")
    parser.add_argument("--config", required=True, help="YAML file with project, region, bucket, worker options")
    parser.add_argument("--job-name", help="Dataflow job name (default code-mixtures-<stage>)")
    parser.add_argument("--print-only", action="store_true", help="print the command, do not launch")
    parser.add_argument("--dry-run", action="store_true",
                        help="build and translate the job graph without submitting (Beam's --dry_run)")
    parser.add_argument("stage", choices=sorted(STAGES), help="which Beam job to launch")
    parser.add_argument("job_args", nargs=argparse.REMAINDER, help="the stage's own flags")
    args = parser.parse_args(argv)
    job_args = [a for a in args.job_args if a != "--"]
    cfg = load_config(args.config)
    cmd = command(cfg, args.stage, job_args, args.job_name)
    if args.dry_run:
        cmd += ["--dry_run=True"]
    if args.print_only:
        print(shlex.join(cmd))
        return 0
    module = importlib.import_module(STAGES[args.stage])
    module.run(cmd[3:])
    return 0


if __name__ == "__main__":
    sys.exit(run())
