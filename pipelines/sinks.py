"""Beam's file sinks with a literal output path: `--output 'out[1]'` writes there and nowhere else.

Beam's FileBasedSink (under WriteToParquet and WriteToText) finalizes a write by globbing
`<prefix>*<suffix>`: it deletes every existing file the glob matches, then looks its temporary
files up with another glob. A prefix holding `[`, `*` or `?` therefore matched a sibling folder
(`out[1]` matched `out1`, whose shards were deleted) and missed its own temporaries (the job
crashed in FinalizeWrite). These sinks keep Beam's writers and temporary directory and replace the
two finalize steps with literal ones (Beam's FileSystems.delete globs its argument too, on
local paths as well, so nothing here passes a user path to it): the final names are computed, never matched; a file is
deleted only under one of those exact names; temporaries are renamed by the names the writers
returned. Only bounded (batch) writes are covered, which is all this project runs.

WriteParquetShards (curate's kept/ and rejected/ with a fixed shard count) goes further: Beam's
sink writes rows in GroupByKey order, which differs between runs, so two runs on the same input
published the same rows in different bytes. Here placement and order come from the rows alone: a
row goes to shard sha256("parquet-shard\0" + id) % count, each shard's rows are sorted by (id, the
whole row) and written by one DoFn with pyarrow (Beam's defaults: no compression, one row group per
64 MiB) to a hidden temporary, then renamed to the literal `part-NNNNN-of-MMMMM.parquet`; every
shard index gets a file, empty ones too, as Beam's sink does. Memory: a shard's rows are held to
sort them, so choose --num-shards so that one shard fits a worker.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable

import apache_beam as beam
from apache_beam.io import parquetio, textio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines import beam_files
from tokens import paths

_LOG = logging.getLogger(__name__)


class _LiteralFinalize:
    """pre_finalize / finalize_write of FileBasedSink with exact names instead of globs; write errors
    (a full disk) name the output instead of Beam's temporary and stay OSErrors through the runner."""

    def open(self, temp_path):
        try:
            return super().open(temp_path)
        except OSError as e:
            raise self._write_error(e) from e

    def write_record(self, file_handle, value):
        try:
            return super().write_record(file_handle, value)
        except OSError as e:
            raise self._write_error(e) from e

    def close(self, file_handle):
        try:
            return super().close(file_handle)
        except OSError as e:
            raise self._write_error(e) from e

    def _write_error(self, error: OSError) -> OSError:
        shards = "-*" if self.shard_name_format else ""
        return paths.write_error(error, f"{self.file_path_prefix.get()}{shards}{self.file_name_suffix.get()}")

    def final_name(self, shard: int, num_shards: int) -> str:
        return "".join([self.file_path_prefix.get(),
                        self.shard_name_format % dict(shard_num=shard, num_shards=num_shards, uuid="",
                                                      window=None, window_utc=None),
                        self.file_name_suffix.get()])

    def pre_finalize(self, init_result, writer_results):
        """Remove an earlier run's files under exactly the names this write is about to publish."""
        count = len(list(writer_results))
        for shard in range(count):
            paths.delete(self.final_name(shard, count))

    def finalize_write(self, init_result, writer_results, unused_pre_finalize_results):
        """Rename each writer's temporary to its final name (idempotent on retry); yield the names."""
        writer_results = sorted(writer_results)
        count = len(writer_results)
        finals = [self.final_name(shard, count) for shard in range(count)]
        for src, dst in zip(writer_results, finals):
            if FileSystems.exists(src):
                FileSystems.rename([src], [dst])      # literal on local and gs:// (copy + delete by name)
            elif not FileSystems.exists(dst):
                raise BeamIOError(f"finalize: neither the temporary {src} nor the output {dst} exists")
        self._remove_temp_dir(init_result)
        yield from finals

    @staticmethod
    def _remove_temp_dir(init_result) -> None:
        # Beam's FileSystems.delete globs its argument (locally too), so: shutil.rmtree of the exact local
        # folder; on gs:// a trailing '/' makes Beam delete by literal prefix. Leftovers are harmless: log.
        try:
            if "://" in init_result:
                FileSystems.delete([init_result.rstrip("/") + "/"])
            else:
                shutil.rmtree(init_result, ignore_errors=True)
        except Exception as e:  # noqa: BLE001 - cleanup of an empty temporary folder
            _LOG.info("could not remove %s: %s", init_result, e)


class LiteralParquetSink(_LiteralFinalize, parquetio._ParquetSink):
    pass


class LiteralTextSink(_LiteralFinalize, textio._TextSink):
    pass


class WriteToParquet(beam.io.WriteToParquet):
    """beam.io.WriteToParquet (same arguments) whose file_path_prefix is a literal path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sink.__class__ = LiteralParquetSink   # same state, literal finalize (no glob of the prefix)


class WriteToText(beam.io.WriteToText):
    """beam.io.WriteToText (same arguments) whose file_path_prefix is a literal path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sink.__class__ = LiteralTextSink


# ------------------------------------------------------------------ deterministic Parquet shards

SHARD_NAME = "part-%05d-of-%05d.parquet"
ROW_GROUP_BYTES = 64 * 1024 * 1024     # beam.io.WriteToParquet's row_group_buffer_size
CODEC = "none"                         # beam.io.WriteToParquet's default codec


def shard_of(row_id: str, count: int) -> int:
    """The shard (of `count`) holding a row: a hash of its id, stable across runs and workers."""
    digest = hashlib.sha256(b"parquet-shard\x00" + str(row_id).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count


def row_order(row: dict) -> tuple[str, tuple[str, ...]]:
    """Sort key inside a shard: the id, then every field by name, so rows sharing an id have a fixed order too.

    The fields are the row's own strings (str() of a str is the same object): sorting a shard holds no
    second copy of its text, as a serialised row would."""
    return str(row["id"]), tuple(str(row[k]) for k in sorted(row))


def write_parquet(path: str, schema, rows: Iterable[dict]) -> int:
    """Write `rows` (in the order given) to `path` atomically; returns the row count.

    Row groups of about ROW_GROUP_BYTES of text; an OSError (a full disk) names `path`."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    written = 0

    def write(stream) -> None:
        nonlocal written
        with pq.ParquetWriter(stream, schema, compression=CODEC) as writer:
            group, size = [], 0
            for row in rows:
                group.append(row)
                size += sum(len(v) for v in row.values() if isinstance(v, str))
                if size >= ROW_GROUP_BYTES:
                    writer.write_table(pa.Table.from_pylist(group, schema))
                    written, group, size = written + len(group), [], 0
            if group:   # an empty shard: a valid file with the schema and no row group, as Beam's sink writes
                writer.write_table(pa.Table.from_pylist(group, schema))
                written += len(group)

    beam_files.publish_stream(path, write)
    return written


class _WriteShardFn(beam.DoFn):
    """(shard index, rows with None markers) -> the shard's final path, written sorted."""

    def __init__(self, folder: str, schema, count: int):
        self.folder, self.schema, self.count = folder, schema, count

    def process(self, element):
        index, rows = element
        rows = sorted((r for r in rows if r is not None), key=row_order)
        path = paths.join(self.folder, SHARD_NAME % (index, self.count))
        written = write_parquet(path, self.schema, rows)
        if written != len(rows):
            raise RuntimeError(f"{path}: wrote {written} rows of {len(rows)}")
        yield path


class WriteParquetShards(beam.PTransform):
    """Rows (dicts with an "id") -> `folder`/part-NNNNN-of-MMMMM.parquet, byte-identical across runs.

    Returns the PCollection of the paths written (all `num_shards` of them, empty shards included)."""

    def __init__(self, folder: str, schema, num_shards: int):
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"WriteParquetShards needs num_shards >= 1, got {num_shards}")
        self.folder, self.schema, self.num_shards = folder, schema, num_shards

    def expand(self, rows):
        count = self.num_shards
        keyed = rows | "Key by id hash" >> beam.Map(lambda row: (shard_of(row["id"], count), row))
        markers = rows.pipeline | "One per shard" >> beam.Create([(i, None) for i in range(count)])
        return ((keyed, markers)
                | "Merge" >> beam.Flatten()
                | "Group by shard" >> beam.GroupByKey()
                | "Write shard" >> beam.ParDo(_WriteShardFn(self.folder, self.schema, count)))
