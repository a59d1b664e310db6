"""pipelines.sinks: Beam's Parquet/text sinks with a literal output prefix, and curate's deterministic shards.

Each odd output folder sits next to siblings its name would match as a glob (`out[1]` ~ `out1`,
`out*` ~ `outA`, `out?` ~ `outB`); the siblings already hold files under the names the write
publishes. The write must land in its own folder and leave every sibling byte-identical.
"""
from __future__ import annotations

import json
import os
import random

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


# ------------------------------------------------------------------ WriteParquetShards (curate, fixed count)

def _rejected_rows() -> list[dict]:
    """curate's rejected/ schema: duplicate ids (an exact duplicate's twin, one id rejected at two stages)."""
    rows = [{"id": f"code/repo{i % 9}/f{i}.py", "source": "code", "text": f"def f{i}():\n    return {i}\n",
             "meta": json.dumps({"path": f"f{i}.py", "stars": i}), "reason": f"filter:too_short:{i % 4}",
             "stage": "filter"} for i in range(40)]
    rows += [dict(rows[3], reason="exact_duplicate_of:" + rows[4]["id"], stage="exact_dedup"),
             dict(rows[3], reason="near_duplicate_of:" + rows[5]["id"], stage="near_dedup"),
             dict(rows[7]), {**rows[8], "text": "ünïcode ✓ 漢字", "meta": "{}"}]
    return rows


def _write_shards(folder, rows, num_shards: int, schema=None) -> None:
    from pipelines.curate import _pa_schemas
    with beam.Pipeline() as p:
        _ = p | beam.Create(rows) | sinks.WriteParquetShards(str(folder), schema or _pa_schemas()[1], num_shards)


def _files(folder) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in sorted(os.listdir(folder))}


def test_parquet_shards_are_byte_identical_whatever_the_arrival_order(tmp_path):
    rows = _rejected_rows()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    _write_shards(tmp_path / "a", rows, 3)
    _write_shards(tmp_path / "b", shuffled[::-1], 3)
    first = _files(tmp_path / "a")
    assert first == _files(tmp_path / "b") and len(first) == 3
    got = [r for n in first for r in pq.read_table(tmp_path / "a" / n).to_pylist()]
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, rows))     # every row once, duplicates too
    for name in first:
        shard = pq.read_table(tmp_path / "a" / name).to_pylist()
        assert shard == sorted(shard, key=sinks.row_order)                 # id, then the whole row
    assert pq.read_metadata(tmp_path / "a" / "part-00000-of-00003.parquet").row_group(0).column(0).compression \
        == "UNCOMPRESSED"                                                   # Beam's WriteToParquet default


def test_every_shard_is_written_and_rows_are_placed_by_id_hash(tmp_path):
    rows = _rejected_rows()[:3]
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00004-of-00005.parquet").write_bytes(b"an earlier run's bytes")
    _write_shards(out, rows, 5)
    names = [f"part-{i:05d}-of-00005.parquet" for i in range(5)]
    assert sorted(os.listdir(out)) == names                # no temporaries, no beam-temp-*, nothing else
    from pipelines.curate import _pa_schemas
    sizes = []
    for index, name in enumerate(names):
        table = pq.read_table(out / name)
        assert table.schema == _pa_schemas()[1]
        assert all(sinks.shard_of(r["id"], 5) == index for r in table.to_pylist())
        sizes.append(table.num_rows)
    assert sum(sizes) == 3 and 0 in sizes                  # 3 ids over 5 shards: empty shards are files too


@pytest.mark.parametrize("name", ["out[1]", "out [1] with spaces"])
def test_parquet_shards_write_only_the_literal_folder(tmp_path, name):
    before = _siblings(tmp_path)
    _write_shards(tmp_path / name, ROWS, 1, SCHEMA)
    assert _after(tmp_path, before) == before
    assert os.listdir(tmp_path / name) == ["part-00000-of-00001.parquet"]
    assert pq.read_table(tmp_path / name / "part-00000-of-00001.parquet").to_pylist() == ROWS


def test_parquet_shard_write_error_names_the_final_file(tmp_path):
    (tmp_path / "blocked").write_text("a file where the output folder should be")
    with pytest.raises(OSError, match=r"cannot write .*blocked/out\[1\]/part-0000[01]-of-00002\.parquet: "):
        _write_shards(tmp_path / "blocked" / "out[1]", ROWS, 2, SCHEMA)
    assert os.listdir(tmp_path) == ["blocked"]


@pytest.mark.gcs
def test_parquet_shards_on_gcs_with_glob_characters(gcs_emulator, tmp_path):
    """gs://b/x/out[1] next to gs://b/x/out1 holding the same names: only out[1]'s objects change; the
    shards equal a local write byte for byte and no temporary object is left."""
    import uuid

    from tokens import paths

    base = f"gs://{gcs_emulator}/shards-{uuid.uuid4().hex[:8]}"
    sibling = {f"{base}/out1/part-0000{i}-of-00002.parquet": f"sibling {i}".encode() for i in range(2)}
    for path, data in sibling.items():
        paths.write_atomic(path, data)
    rows = _rejected_rows()
    _write_shards(f"{base}/out[1]", rows, 2)
    _write_shards(tmp_path / "local", rows, 2)
    assert {p: paths.open_read(p).read() for p in sibling} == sibling
    names = paths.list_dir(f"{base}/out[1]")
    assert names == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    for name in names:
        with paths.open_read(f"{base}/out[1]/{name}") as f:
            assert f.read() == (tmp_path / "local" / name).read_bytes(), name
