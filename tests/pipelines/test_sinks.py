"""pipelines.sinks: Beam's Parquet/text sinks with a literal output prefix.

Each odd output folder sits next to siblings its name would match as a glob (`out[1]` ~ `out1`,
`out*` ~ `outA`, `out?` ~ `outB`); the siblings already hold files under the names the write
publishes. The write must land in its own folder and leave every sibling byte-identical.
"""
from __future__ import annotations

import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import sinks

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string())])
ROWS = [{"id": f"d{i}", "text": f"text {i}"} for i in range(5)]


def _siblings(base) -> dict[str, bytes]:
    """Folders a glob of the odd names would match, each holding a shard and a text part of its own."""
    blobs = {}
    for name in ("out1", "outA", "outB", "out", "x"):
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        for leaf in ("part-00000-of-00001.parquet", "part-00000-of-00001.txt"):
            (folder / leaf).write_bytes(f"sibling {name} {leaf}".encode())
    for path in sorted(base.rglob("*")):
        if path.is_file():
            blobs[str(path.relative_to(base))] = path.read_bytes()
    return blobs


def _after(base, before) -> dict[str, bytes]:
    return {rel: (base / rel).read_bytes() if (base / rel).exists() else None for rel in before}


def _write(prefix: str, num_shards: int = 1) -> None:
    with beam.Pipeline() as p:
        rows = p | beam.Create(ROWS)
        rows | "parquet" >> sinks.WriteToParquet(prefix, SCHEMA, file_name_suffix=".parquet", num_shards=num_shards)
        (rows | beam.Map(lambda r: r["id"])
         | "text" >> sinks.WriteToText(prefix, file_name_suffix=".txt", num_shards=num_shards))


@pytest.mark.parametrize("name", ["out[1]", "out*?", "out [1] with spaces", "sub/../out[1]"])
def test_literal_prefix_writes_only_its_folder(tmp_path, name):
    before = _siblings(tmp_path)
    (tmp_path / "sub").mkdir()
    out = os.path.join(str(tmp_path), name)
    _write(os.path.join(out, "part"), num_shards=2)
    assert _after(tmp_path, before) == before
    real = os.path.realpath(out)
    names = sorted(os.listdir(real))
    assert names == ["part-00000-of-00002.parquet", "part-00000-of-00002.txt",
                     "part-00001-of-00002.parquet", "part-00001-of-00002.txt"], names
    ids = sorted(r["id"] for n in names if n.endswith(".parquet") for r in pq.read_table(os.path.join(real, n)).to_pylist())
    assert ids == sorted(r["id"] for r in ROWS)


def test_symlinked_output_folder(tmp_path):
    """The output folder is a symlink (e.g. to a bigger disk): written through it, siblings untouched."""
    before = _siblings(tmp_path)
    (tmp_path / "disk [2]").mkdir()
    os.symlink(tmp_path / "disk [2]", tmp_path / "out[1]")
    _write(str(tmp_path / "out[1]" / "part"))
    assert _after(tmp_path, before) == before
    assert sorted(os.listdir(tmp_path / "disk [2]")) == ["part-00000-of-00001.parquet", "part-00000-of-00001.txt"]
    assert (tmp_path / "out[1]").is_symlink()


def test_rerun_replaces_its_own_files_only(tmp_path):
    """A second write to the same literal prefix replaces its shards (no stale bytes, no temporaries)."""
    out = tmp_path / "out[1]"
    out.mkdir()
    (out / "part-00000-of-00001.parquet").write_bytes(b"stale")
    (out / "notes.txt").write_bytes(b"user file")
    _write(str(out / "part"))
    assert pq.read_table(out / "part-00000-of-00001.parquet").num_rows == len(ROWS)
    assert (out / "notes.txt").read_bytes() == b"user file"
    assert not [n for n in os.listdir(out) if n.startswith("beam-temp")]
