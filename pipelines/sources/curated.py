"""Reading the curate job's kept documents: CURATED/kept/<source>/part-*.parquet.

Shared by the tokenizer trainer and the tokenize job, which both consume exactly
the columns `id, source, text` (meta is not needed downstream of curation).

Only a finished curate run is read: CURATED/_COMPLETE.json (written last by curate, tokens/completion.py)
must exist, say the run kept its invariant, and every kept shard it lists must be there with its size;
then exactly the listed shards are read (a killed run's leftovers next to them are not).
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from tokens import paths
from tokens import completion

COLUMNS = ["id", "source", "text"]


def tag_source(row: dict, source: str) -> dict:
    """The directory decides the source; a row that says otherwise is counted, not trusted."""
    if row.get("source") != source:
        Metrics.counter("curated_input", f"{source}/source_column_mismatch").inc()
        row = dict(row, source=source)
    return row


def kept_dir(curated: str, source: str) -> str:
    return paths.join(curated, "kept", source)


def kept_shards(curated: str) -> dict[str, list[str]]:
    """{source: [kept shard paths]} from the curate run's completion record; IncompleteInput when the folder
    is not a finished run's output (no record, a listed shard missing or resized, a broken invariant)."""
    if completion.read_record(curated) is None and not paths.list_dir(paths.join(curated, "kept")):
        raise FileNotFoundError(f"no kept Parquet shards under {paths.join(curated, 'kept')}/<source>/ "
                                "(not a curate output folder)")
    record = completion.require_complete(curated, "curate", under=("kept/",))
    if record.get("ok") is False:
        raise completion.IncompleteInput(
            f"{curated}: the curate run that wrote it broke its conservation invariant (see report.md); "
            "fix the cause and rerun curate before tokenizing")
    out: dict[str, list[str]] = {}
    for rel in sorted(record["files"]):
        parts = rel.split("/")
        if len(parts) == 3 and parts[0] == "kept" and parts[2].endswith(".parquet"):
            out.setdefault(parts[1], []).append(paths.join(curated, *parts))
    # The readers glob kept/<source>/*.parquet: a Parquet file there that the record does not list
    # (copied in, or written by a run that did not finish) would be read as if curate had kept it.
    extra = [paths.join(kept_dir(curated, source), name) for source in out for name in paths.list_dir(kept_dir(curated, source))
             if name.endswith(".parquet") and paths.join(kept_dir(curated, source), name) not in out[source]]
    if extra:
        more = f" and {len(extra) - 3} more" if len(extra) > 3 else ""
        raise completion.IncompleteInput(
            f"{curated}: {', '.join(extra[:3])}{more} not written by the curate run its "
            f"{completion.RECORD_NAME} describes; remove them or rerun curate into {curated}")
    return out


def list_sources(curated: str) -> list[str]:
    """Sources that have kept Parquet shards, sorted; empty list when none."""
    return sorted(kept_shards(curated))


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
