"""Shared fixtures. `gcs_emulator`: a real GCS JSON API (gcp-storage-emulator) on localhost."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


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
        from pipelines import io
        io.configure_gcs_emulator()  # Beam: anonymous client, no credential lookup
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
