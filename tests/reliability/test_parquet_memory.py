"""Parquet reading memory is bounded by bytes actually decoded, never by what a file's footer claims (13.5),
and stays flat with file size when a large file is read row group by row group (issue 15).

Peak memory is measured inside a fresh subprocess that imports the reader, records its resident set
(VmRSS), resets the kernel's peak counter (/proc/self/clear_refs) and reads the file; the growth is
VmHWM minus that baseline, the reader's own figure. (`ru_maxrss` would not do: Linux carries it
across exec, so a child started from a big pytest process reports the parent's peak.)
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from pipelines.sources.limits import ReadLimits
from tests.pipelines.sources.corpus import footer_lie_parquet

MiB = 1 << 20
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_MEASURE = r"""
import json, sys
from pipelines.sources import parse_file
from pipelines.sources.limits import ReadLimits
import pyarrow.parquet, pipelines.io, pipelines.sources.stack  # imported before the baseline (as on a worker)

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

limits = ReadLimits(**json.loads(sys.argv[2]))
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
counts = {}
for record in parse_file("stack", sys.argv[1], limits, root=sys.argv[3]):
    key = getattr(record, "reason", "document").split(":")[0]
    counts[key] = counts.get(key, 0) + 1
peak = status("VmHWM")
print(json.dumps({"growth_kib": peak - base, "base_kib": base, "peak_kib": peak, "counts": counts}))
"""


def measure_read(path: str, root: str, limits: dict | None = None) -> dict:
    """Read one Parquet file with the stack reader in a fresh process: growth of peak RSS (KiB) and outcomes."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _MEASURE, path, json.dumps(limits or {}), root],
                         capture_output=True, text=True, env=env, timeout=1800)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_footer_that_understates_a_200_mb_row_is_refused_within_the_cap(tmp_path):
    """13.5: a few-KB file whose footer declares 1,000 bytes holds one 200 MB value; it is rejected from
    the page headers (real sizes) without being decoded, and the reader's peak RSS grows by less than
    ReadLimits.max_page_bytes (the stated cap)."""
    data = footer_lie_parquet(200 * MiB)
    assert len(data) < 64 * 1024
    assert pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).total_byte_size == 1000
    (tmp_path / "stack").mkdir()
    path = tmp_path / "stack" / "liar.parquet"
    path.write_bytes(data)
    result = measure_read(str(path), str(tmp_path))
    assert result["counts"] == {"decompression_limit": 1}, result
    cap_kib = ReadLimits().max_page_bytes // 1024
    assert result["growth_kib"] < cap_kib, result


def test_footer_lie_under_a_lowered_cap(tmp_path):
    """The same rule with the caps lowered: a 20 MB value against an 8 MiB page cap."""
    (tmp_path / "stack").mkdir()
    path = tmp_path / "stack" / "liar.parquet"
    path.write_bytes(footer_lie_parquet(20 * MiB))
    result = measure_read(str(path), str(tmp_path), {"max_page_bytes": 8 * MiB, "max_batch_bytes": 8 * MiB})
    assert result["counts"] == {"decompression_limit": 1}, result
    assert result["growth_kib"] < 8 * 1024, result
