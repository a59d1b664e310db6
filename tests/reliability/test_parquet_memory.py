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
import pyarrow.parquet, pipelines.beam_files, pipelines.sources.stack  # imported before the baseline (as on a worker)

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


def write_stack_file(path, target_bytes: int, group_bytes: int = 64 * MiB, row_bytes: int = 8192) -> int:
    """A Stack-schema Parquet file of about `target_bytes` on disk in row groups of about `group_bytes`.

    Content is base64 of random bytes (snappy cannot shrink it much), so the file size is real data;
    written one row group at a time, so the writer never holds the file. Returns the row count."""
    import base64
    import pyarrow as pa
    from tests.pipelines.sources import corpus
    rows_per_group = max(1, group_bytes // row_bytes)
    rows = 0
    with pq.ParquetWriter(str(path), corpus.STACK_SCHEMA, compression="snappy") as writer:
        while os.path.getsize(path) < target_bytes:
            blob = base64.b64encode(os.urandom(rows_per_group * row_bytes * 3 // 4)).decode()
            contents = [blob[i * row_bytes:(i + 1) * row_bytes] for i in range(rows_per_group)]
            writer.write_table(pa.Table.from_pylist(
                [corpus.stack_row(rows + i, content=c) for i, c in enumerate(contents)], schema=corpus.STACK_SCHEMA))
            rows += rows_per_group
    return rows


_MEASURE_PARTS = r"""
import json, sys
from pipelines.sources import parse_file, work_items
import pyarrow.parquet, pipelines.beam_files, pipelines.sources.stack

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

path, root = sys.argv[1], sys.argv[2]
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
parts = work_items("stack", path, root=root)
rows = 0
for part in parts:                      # one worker taking every work item of the file in turn
    for record in parse_file("stack", path, root=root, part=part):
        rows += 1
print(json.dumps({"growth_kib": status("VmHWM") - base, "rows": rows, "parts": len(parts)}))
"""


@pytest.mark.slow
def test_one_gigabyte_stack_file_is_read_in_bounded_memory(tmp_path):
    """Issue 15: a 1 GB multi-row-group file, read as (file, row group) work items, peaks no higher than a
    64 MB one-group file (+25%), and well under the stated per-worker bound."""
    (tmp_path / "stack").mkdir()
    small, big = tmp_path / "stack" / "small.parquet", tmp_path / "stack" / "big.parquet"
    small_rows = write_stack_file(small, 60 * MiB)
    big_rows = write_stack_file(big, 1024 * MiB)
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    results = {}
    for name, path in (("small", small), ("big", big)):
        out = subprocess.run([sys.executable, "-c", _MEASURE_PARTS, str(path), str(tmp_path)],
                             capture_output=True, text=True, env=env, timeout=3600)
        assert out.returncode == 0, out.stderr[-4000:]
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nparquet read peak RSS growth: {os.path.getsize(small) / MiB:.0f} MB file "
          f"({results['small']['parts']} row groups) {results['small']['growth_kib'] / 1024:.0f} MiB; "
          f"{os.path.getsize(big) / MiB:.0f} MB file ({results['big']['parts']} row groups) "
          f"{results['big']['growth_kib'] / 1024:.0f} MiB")
    assert results["small"]["rows"] == small_rows and results["big"]["rows"] == big_rows
    assert results["big"]["parts"] >= 16
    assert results["big"]["growth_kib"] <= 1.25 * results["small"]["growth_kib"] + 16 * 1024, results
    limits = ReadLimits()
    assert results["big"]["growth_kib"] * 1024 < 2 * (limits.max_page_bytes + limits.max_batch_bytes), results
