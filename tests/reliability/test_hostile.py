"""The real curate job over a ROOT of hostile inputs: it finishes, every case ends in rejected/ with
the right reason, the funnel balances, nothing from /etc/passwd or our environment leaks, and the
test process (the sandbox's parent) survives a solution that tries to kill it."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import secrets
import subprocess
import sys

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import curate, curate_outputs
from pipelines.report import funnel
from tests.reliability.hostile import SECRET_ENV, SECRET_VALUE, limits_for, write_hostile_root

REPO = pathlib.Path(__file__).resolve().parents[2]


def passwd_lines() -> list[str]:
    """Non-trivial lines of /etc/passwd (what an external entity would pull in)."""
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            return [line.strip() for line in f if line.count(":") >= 6 and len(line.strip()) > 20]
    except OSError:
        return []


def curate_in_process(raw: pathlib.Path, out: pathlib.Path, limits, cfg: curate.CurateConfig | None = None) -> dict:
    """pipelines.curate.build_pipeline on the DirectRunner with `limits`, then its report and invariant check."""
    cfg = dataclasses.replace(cfg or curate.CurateConfig(), read_limits=limits)
    families = curate.present_families(str(raw))
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    sources = curate.build_pipeline(p, str(raw), str(out), families, cfg)
    result = p.run()
    result.wait_until_finish()
    report = curate_outputs.finish_report(result, str(out), sources, {"families": families})
    funnel.check_invariant(report)
    return report


def output_rows(out: pathlib.Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(out.glob(f"{kind}/*/part-*-of-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def file_of(row: dict) -> str | None:
    """The raw file (relative to ROOT) a kept or rejected row came from."""
    meta = json.loads(row["meta"])
    if isinstance(meta.get("file"), str):
        return meta["file"]
    return meta.get("path") if "locator" in meta else None


def check_cases(cases, out: pathlib.Path, report: dict) -> None:
    kept, rejected = output_rows(out, "kept"), output_rows(out, "rejected")
    kept_files = {file_of(r) for r in kept}
    by_file: dict[str, list[dict]] = {}
    for row in rejected:
        by_file.setdefault(file_of(row), []).append(row)
    problems = []
    for case in cases:
        if case.path in kept_files:
            problems.append(f"{case.name}: a record from {case.path} was kept")
        rows = by_file.get(case.path, [])
        if not case.reasons:
            if rows:
                problems.append(f"{case.name}: empty file produced {len(rows)} rejects")
            continue
        keys = {r["reason"].split(":", 1)[0] for r in rows}
        stages = {r["stage"] for r in rows}
        if not keys & set(case.reasons):
            problems.append(f"{case.name}: expected one of {case.reasons} at {case.stage}, got {sorted(keys)}")
        elif case.stage not in stages:
            problems.append(f"{case.name}: expected stage {case.stage}, got {sorted(stages)}")
    assert not problems, "\n".join(problems)
    # The funnel counted every reject (counters agree with what was written).
    written = {}
    for row in rejected:
        written[row["source"]] = written.get(row["source"], 0) + 1
    for source, row in report["sources"].items():
        dropped = row["rejected_total"] + row["exact_duplicates"] + row["near_duplicates"] + row["errors"]
        assert dropped == written.get(source, 0), (source, row)
        assert row["kept"] == sum(1 for r in kept if r["source"] == source)
    # No external entity content and no environment leaked into any output (text or meta).
    leaks = [line for line in passwd_lines() if any(line in r["text"] or line in r["meta"] for r in kept + rejected)]
    assert not leaks, f"/etc/passwd content in output: {leaks[:2]}"
    assert not any(SECRET_VALUE in r["text"] + r["meta"] for r in kept if r["source"] != "synthetic")


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    cases = write_hostile_root(base / "raw", "fast")
    os.environ[SECRET_ENV] = SECRET_VALUE       # the read_env solution must not see it
    try:
        report = curate_in_process(base / "raw", base / "out", limits_for("fast"))
    finally:
        os.environ.pop(SECRET_ENV, None)
    return base, cases, report


def test_every_hostile_case_is_rejected_with_its_reason(fast_run):
    base, cases, report = fast_run
    check_cases(cases, base / "out", report)


def test_job_keeps_good_data_next_to_hostile_data(fast_run):
    base, _, report = fast_run
    kept = output_rows(base / "out", "kept")
    assert [json.loads(r["meta"])["task_id"] for r in kept if r["source"] == "synthetic"] == ["good-add"]
    assert report["sources"]["synthetic"]["kept"] == 1


def test_report_balances_and_parent_survived(fast_run):
    base, cases, report = fast_run
    on_disk = json.loads((base / "out" / "report.json").read_text())
    assert on_disk["sources"] == report["sources"]
    for source, row in report["sources"].items():
        assert row["in"] == row["kept"] + row["rejected_total"] + row["exact_duplicates"] + \
            row["near_duplicates"] + row["errors"], source
    # We are still here (the kill_parent solution ran as our child) and it was stopped by the sandbox.
    assert report["sources"]["synthetic"]["rejected"].get("sandbox_violation", 0) >= 3
    assert os.getpid() > 0


@pytest.mark.slow
def test_full_scale_hostile_root_via_cli(tmp_path):
    """Real sizes (100 MB line, 50 MB notebook, 4 GiB bombs) against default limits, as `python -m pipelines.curate`."""
    cases = write_hostile_root(tmp_path / "raw", "full")
    env = dict(os.environ, PYTHONPATH=str(REPO), **{SECRET_ENV: SECRET_VALUE})
    proc = subprocess.run([sys.executable, "-m", "pipelines.curate", "--input", str(tmp_path / "raw"),
                           "--output", str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    check_cases(cases, tmp_path / "out", report)


ORPHAN = """
import os, sys, time
def add(a, b):
    return a - b
if os.fork() == 0:
    os.setsid()
    code = "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\ntime.sleep(120)  # %s"
    os.posix_spawn(sys.executable, [sys.executable, '-c', code], {})
    os._exit(0)
time.sleep(0.3)
"""


def test_setsid_sigterm_ignoring_grandchild_is_gone_when_curate_exits(tmp_path):
    """The issue's orphan: a grandchild that called setsid and ignores SIGTERM. The kernel layers alone (no
    audit hook, which would refuse the fork) must end it before the job's verdict and exit."""
    from sandbox.execution import SandboxConfig
    from pipelines.verify.synthetic import VerifyConfig
    from tests.sandbox.helpers import processes_with
    mark = "curate-orphan-" + secrets.token_hex(6)
    raw = tmp_path / "raw" / "synthetic"
    raw.mkdir(parents=True)
    (raw / "orphan.jsonl").write_text(json.dumps({"id": "orphan", "prompt": "# Write add(a, b).",
                                                  "solution": ORPHAN % mark, "tests": "assert add(2, 2) == 4\n"}) + "\n")
    cfg = curate.CurateConfig(verify=VerifyConfig(sandbox=SandboxConfig(audit_hook=False)))
    report = curate_in_process(tmp_path / "raw", tmp_path / "out", limits_for("fast"), cfg)
    assert report["sources"]["synthetic"]["rejected"] == {"tests_failed": 1}
    assert processes_with(mark) == []
