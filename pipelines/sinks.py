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
"""
from __future__ import annotations

import logging
import shutil

import apache_beam as beam
from apache_beam.io import parquetio, textio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines import io

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
        from tokens.paths import write_error
        shards = "-*" if self.shard_name_format else ""
        return write_error(error, f"{self.file_path_prefix.get()}{shards}{self.file_name_suffix.get()}")

    def final_name(self, shard: int, num_shards: int) -> str:
        return "".join([self.file_path_prefix.get(),
                        self.shard_name_format % dict(shard_num=shard, num_shards=num_shards, uuid="",
                                                      window=None, window_utc=None),
                        self.file_name_suffix.get()])

    def pre_finalize(self, init_result, writer_results):
        """Remove an earlier run's files under exactly the names this write is about to publish."""
        count = len(list(writer_results))
        for shard in range(count):
            io.delete(self.final_name(shard, count))

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
