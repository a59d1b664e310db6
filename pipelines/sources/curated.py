"""Reading the curate job's kept documents: CURATED/kept/<source>/part-*.parquet.

Shared by the tokenizer trainer and the tokenize job, which both consume exactly
the columns `id, source, text` (meta is not needed downstream of curation).
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import beam_files
from tokens import paths

COLUMNS = ["id", "source", "text"]


def tag_source(row: dict, source: str) -> dict:
    """The directory decides the source; a row that says otherwise is counted, not trusted."""
    if row.get("source") != source:
        Metrics.counter("curated_input", f"{source}/source_column_mismatch").inc()
        row = dict(row, source=source)
    return row


def kept_dir(curated: str, source: str) -> str:
    return paths.join(curated, "kept", source)


def list_sources(curated: str) -> list[str]:
    """Sources that have kept Parquet shards, sorted; empty list when none."""
    shards = beam_files.match(paths.join(curated, "kept", "*", "*.parquet"))
    return sorted({paths.basename(paths.dirname(p)) for p in shards})


def resolve_sources(curated: str, wanted: list[str] | None) -> list[str]:
    """The sources to process: all found, or `wanted` (each must exist: a typo is an error)."""
    found = list_sources(curated)
    if not found:
        raise FileNotFoundError(f"no kept Parquet shards under {paths.join(curated, 'kept')}/<source>/")
    if not wanted:
        return found
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise FileNotFoundError(f"no kept shards for {missing} under {paths.join(curated, 'kept')} "
                                f"(found {found})")
    return sorted(set(wanted))


class ReadCurated(beam.PTransform):
    """Rows {id, source, text} of every kept document of `sources`."""

    def __init__(self, curated: str, sources: list[str], validate: bool = True):
        super().__init__()   # validate=False: no listing at construction (dry runs, offline translation)
        self.curated, self.sources, self.validate = curated, sources, validate

    def expand(self, pbegin):
        reads = [
            pbegin | f"read kept {source}" >> beam.io.ReadFromParquet(
                paths.join(kept_dir(self.curated, source), "*.parquet"), columns=COLUMNS,
                validate=self.validate)
            | f"tag {source}" >> beam.Map(tag_source, source)
            for source in self.sources
        ]
        return tuple(reads) | "all kept sources" >> beam.Flatten()
