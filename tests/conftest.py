"""Shared fixtures and the Hypothesis profiles.

`gcs_emulator`: a real GCS JSON API (gcp-storage-emulator) on localhost.

Hypothesis profiles: "ci" (the default, and what `make test` / `.ci/run` select) derives every
test's examples from the test's name and writes no example database, so a run's outcome depends
only on the code: the same commit passes or fails the same way on every machine. "fuzz"
(`make fuzz`) draws fresh random inputs on every run, with FUZZ_FACTOR (default 10) times each
test's max_examples, and keeps failures in .hypothesis/ so they replay until fixed.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
# The default for a bare `pytest`; `--hypothesis-profile=NAME` (loaded after this file) overrides it.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
FUZZ_FACTOR = int(os.environ.get("FUZZ_FACTOR", "10"))


def pytest_collection_modifyitems(config, items):
    """Under the "fuzz" profile, raise each Hypothesis test's own max_examples by FUZZ_FACTOR.

    A test's @settings(max_examples=N) overrides any profile, so the budget is scaled on the
    settings object Hypothesis reads when the test runs (kept on the test function)."""
    profile = config.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if profile != "fuzz" or FUZZ_FACTOR <= 1:
        return
    scaled = set()   # a parametrized test is one function behind several items: scale it once
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if getattr(test, "is_hypothesis_test", False) and own is not None and id(test) not in scaled:
            scaled.add(id(test))
            test._hypothesis_internal_use_settings = settings(own, max_examples=own.max_examples * FUZZ_FACTOR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gcp-storage-emulator did not answer at {url} within {timeout_s}s")


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """Start gcp-storage-emulator (in memory), point google-cloud-storage and Beam at it,
    create a bucket and yield its name. STORAGE_EMULATOR_HOST is restored afterwards.
    Its stderr goes to a file: the single-threaded server prints a traceback for every client that
    closes a connection early, and an undrained pipe would fill and hang it mid-test."""
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    port = _free_port()
    host = f"http://127.0.0.1:{port}"
    with open(tmp_path_factory.mktemp("gcs-emulator") / "stderr.log", "wb") as log:
        proc = subprocess.Popen([str(exe), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory", "-q"],
                                stdout=subprocess.DEVNULL, stderr=log)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        _wait_until_up(f"{host}/storage/v1/b", proc)
        os.environ["STORAGE_EMULATOR_HOST"] = host
        from pipelines import beam_files
        beam_files.configure_gcs_emulator()  # Beam: anonymous client, no credential lookup
        from google.cloud import storage
        bucket = "test-bucket"
        storage.Client.create_anonymous_client().create_bucket(bucket)
        yield bucket
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
