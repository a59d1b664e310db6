"""`python -m pipelines.curate`: raw families -> filtered, verified, decontaminated, deduplicated Parquet.

Per family:  Read <family> -> Count <family> input -> Filter <family> [-> Redact <family>]
             [-> Verify synthetic] -> Decontaminate <family>
then over all families:  Exact dedup -> Near dedup -> per source
             Count kept <source> -> Write kept <source> / Write rejected <source>.
Outputs (README, "The stages"): OUTPUT/kept/<source>/part-NNNNN-of-MMMMM.parquet (id, source,
text, meta), OUTPUT/rejected/<source>/... (+ reason, stage), OUTPUT/report.json,
report.md and funnel.png built from the job's "curate" counters. The job exits non-zero if any source
breaks in = kept + rejected + duplicates + errors. Same code on DirectRunner and Dataflow.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import shlex
import sys
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput

from pipelines import beam_files, dry_run, redact, sinks
from tokens import paths
from pipelines.curate_outputs import finish_report, remove_stale_shards
from pipelines.options import split_args
from pipelines.report import funnel
from pipelines.filters import decontaminate
from pipelines.filters.decontaminate import DecontamConfig
from pipelines.dedup.transforms import ExactDedup, NearDedup
from pipelines.document import Document, Rejected
from pipelines.filters import FilterConfig
from pipelines.dedup.minhash import MinHashConfig
from pipelines.redact.step import Redact
from pipelines.report.progress import LogProgress, show_progress
from pipelines.sources import FAMILIES, ReadLimits, family_tags
from pipelines.sources.fields import FieldMap
from pipelines.steps import NAMESPACE, REJECTED, ApplyChecks, is_error
from pipelines.verify.synthetic import VerifyConfig
from sandbox.execution import SandboxMode
from tokens import run_lock
from tokens.flags import StrictArgumentParser, finite_float

# ReadLimits fields the job never applies: Posts.xml is read by byte ranges (any size); the cap is
# for the in-memory reader (`python -m pipelines.sources`, parse_file).
IN_MEMORY_ONLY = ("max_xml_bytes",)


def _pa_schemas():
    import pyarrow as pa
    kept = pa.schema([("id", pa.string()), ("source", pa.string()), ("text", pa.string()),
                      ("meta", pa.string())])
    return kept, kept.append(pa.field("reason", pa.string())).append(pa.field("stage", pa.string()))


@dataclasses.dataclass(frozen=True)
class CurateConfig:
    """Every knob of the job; CLI flags map onto these fields."""
    filters: FilterConfig = FilterConfig()
    decontam: DecontamConfig = DecontamConfig()   # HumanEval always, MBPP when mbpp_path is set
    verify: VerifyConfig = VerifyConfig()         # sandbox limits for synthetic solutions
    minhash: MinHashConfig = MinHashConfig()
    across_sources: bool = False     # dedup over all sources at once instead of within each
    cc_rounds: int = 10              # unrolled label-propagation rounds of near dedup
    verify_edges: bool = True        # drop LSH candidate edges whose estimated Jaccard < threshold
    num_shards: int = 1              # Parquet shards per source and output (0: runner decides)
    read_limits: ReadLimits = ReadLimits()   # decompressed bytes / characters caps per file and doc
    fields: FieldMap = FieldMap()            # --field/--fields: reader field -> export column, per family
    pii: redact.PiiConfig = redact.PiiConfig()   # --pii: e-mails, IPs, keys, passwords (pipelines/redact)


# ---------------------------------------------------------------- check factories (run on workers)

def decontam_checks(cfg: DecontamConfig, source: str):
    """[contamination check] for any source; the n-gram index is built once per worker process."""
    from pipelines.filters.decontaminate import cached_index, contamination_reason
    return [functools.partial(contamination_reason, index=cached_index(cfg))]


def filter_checks(cfg: FilterConfig, chains: dict, source: str):
    """The filter chain the source's family declares (pipelines/sources/__init__.py); `chains` is taken from
    the registry when the pipeline is built, so workers need no registry of their own."""
    return chains[source](cfg)


# ---------------------------------------------------------------- small DoFns

class _CountInputFn(beam.DoFn):
    """Count every record a reader produced; split Documents from read-stage Rejected."""

    def __init__(self, family: str):
        self.family, self.sources = family, family_tags(family)

    def process(self, record):
        if not isinstance(record, (Document, Rejected)) or record.source not in self.sources:
            got = getattr(record, "source", type(record).__name__)
            rec_id = getattr(record, "id", "unknown")
            record = Rejected(rec_id, self.sources[0], getattr(record, "text", "")[:1024],
                              {"unexpected_source": str(got)},
                              f"error: UnexpectedSource: {self.family} reader produced {got!r}", "read")
        size = len(record.text.encode("utf-8", "replace"))
        Metrics.counter(NAMESPACE, f"{record.source}/in").inc()
        Metrics.counter(NAMESPACE, f"{record.source}/in_bytes").inc(size)
        if isinstance(record, Document):
            yield record
            return
        key = "errors" if is_error(record) else f"rejected/{record.reason_key}"
        Metrics.counter(NAMESPACE, f"{record.source}/{key}").inc()
        yield TaggedOutput(REJECTED, record)


def _safe_row(record: Document | Rejected) -> dict:
    """Parquet row; text that is not valid UTF-8 (lone surrogates) is repaired, not a crash."""
    row = record.to_row()
    for key in ("text", "meta"):
        try:
            row[key].encode("utf-8")
        except UnicodeEncodeError:
            row[key] = row[key].encode("utf-8", "replace").decode("utf-8")
    return row


class _CountKeptFn(beam.DoFn):
    def process(self, doc: Document):
        row = _safe_row(doc)
        Metrics.counter(NAMESPACE, f"{doc.source}/kept").inc()
        Metrics.counter(NAMESPACE, f"{doc.source}/kept_bytes").inc(len(row["text"].encode("utf-8")))
        yield row


def _by_source(sources: Sequence[str]):
    index = {s: i for i, s in enumerate(sources)}
    return lambda record, n: index[record.source]


# ---------------------------------------------------------------- the pipeline

def _family_chain(p, family: str, input_root: str, cfg: CurateConfig):
    """Read -> count -> filter [-> redact] [-> verify] -> decontaminate; returns (docs, [rejected PCollections])."""
    from pipelines.sources.read import CountSharedIds, ReadFamily
    read = p | f"Read {family}" >> ReadFamily(family, input_root, cfg.read_limits, cfg.fields.for_family(family))
    _ = read | f"Shared user ids {family}" >> CountSharedIds(NAMESPACE)   # counted, never merged
    counted = (read
               | f"Progress read {family}" >> LogProgress(f"curate read {family}")
               | f"Count {family} input" >> beam.ParDo(_CountInputFn(family)).with_outputs(REJECTED, main="docs"))
    rejects = [counted.rejected]
    entry = FAMILIES[family]
    step = counted.docs | f"Filter {family}" >> ApplyChecks(
        "filter", functools.partial(filter_checks, cfg.filters, dict(entry.chains)))
    rejects.append(step.rejected)
    docs = step.kept
    if any(cfg.pii.applies_to(s) for s in entry.tags):   # before verify, decontamination and dedup
        step = docs | f"Redact {family}" >> Redact(cfg.pii)
        rejects.append(step.rejected)
        docs = step.kept
    if entry.verify is not None:
        step = docs | f"Verify {family}" >> ApplyChecks(
            "verify", functools.partial(entry.verify, cfg.verify), reshuffle=True)
        rejects.append(step.rejected)
        docs = step.kept
    step = docs | f"Decontaminate {family}" >> ApplyChecks(
        "decontaminate", functools.partial(decontam_checks, cfg.decontam))
    rejects.append(step.rejected)
    return step.kept, rejects


def _writer(folder: str, schema, num_shards: int) -> beam.PTransform:
    """A fixed shard count writes byte-identical shards (placement and order by id); 0 lets Beam's sink
    (and the runner) choose the count, in GroupByKey order: same rows, bytes may differ between runs."""
    if num_shards >= 1:
        return sinks.WriteParquetShards(folder, schema, num_shards)
    return sinks.WriteToParquet(paths.join(folder, "part"), schema, file_name_suffix=".parquet", num_shards=num_shards)


def build_pipeline(p, input_root: str, output_root: str, families: Sequence[str], cfg: CurateConfig) -> list[str]:
    """Add the curate job to pipeline `p`; returns the source tags it writes."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown or no families {unknown}; expected some of {sorted(FAMILIES)}")
    families = sorted(set(families))
    sources = sorted({s for f in families for s in family_tags(f)})
    doc_sets, reject_sets = [], []
    for family in families:
        docs, rejects = _family_chain(p, family, input_root, cfg)
        doc_sets.append(docs)
        reject_sets += rejects
    docs = tuple(doc_sets) | "Merge families" >> beam.Flatten()
    exact = docs | "Exact dedup" >> ExactDedup(cfg.across_sources)
    near = exact.kept | "Near dedup" >> NearDedup(cfg.minhash, cfg.across_sources, cfg.cc_rounds, cfg.verify_edges)
    rejected = tuple(reject_sets + [exact.rejected, near.rejected]) | "Merge rejected" >> beam.Flatten()

    kept_schema, rejected_schema = _pa_schemas()
    kept = near.kept | "Progress kept" >> LogProgress("curate kept")
    kept_parts = kept | "Split kept by source" >> beam.Partition(_by_source(sources), len(sources))
    rejected_parts = rejected | "Split rejected by source" >> beam.Partition(_by_source(sources), len(sources))
    for i, source in enumerate(sources):
        (kept_parts[i]
         | f"Count kept {source}" >> beam.ParDo(_CountKeptFn())
         | f"Write kept {source}" >> _writer(paths.join(output_root, "kept", source), kept_schema, cfg.num_shards))
        (rejected_parts[i]
         | f"Rows rejected {source}" >> beam.Map(_safe_row)
         | f"Write rejected {source}" >> _writer(paths.join(output_root, "rejected", source), rejected_schema,
                                                  cfg.num_shards))
    return sources


def present_families(input_root: str, families: Sequence[str] | None = None) -> list[str]:
    """Families (of `families`, default all) whose folder under ROOT holds a file the reader reads.

    Raises SystemExit naming the folder and the patterns when a folder holds files but none the
    reader reads (searched recursively), instead of reading nothing without a word."""
    from pipelines.sources import discover
    present = []
    for family in sorted(families if families is not None else FAMILIES):
        listing = discover.list_family(input_root, family, FAMILIES[family].reader.PATTERNS)
        if listing.problem():
            raise SystemExit(f"curate: {listing.problem()}")
        if listing.files:
            present.append(family)
    return present


# ---------------------------------------------------------------- CLI

def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    d, m = CurateConfig.__dataclass_fields__, MinHashConfig()
    ap = StrictArgumentParser(
        prog="python -m pipelines.curate",
        description="Curate raw corpora (one folder per family under --input) into kept/ and rejected/ "
                    "Parquet per source plus report.json/report.md. Beam's own flags pass through to Beam "
                    "(--runner, --project, --region, --temp_location, --setup_file, ...); any other flag is "
                    "refused (pipelines/options.py).")
    ap.add_argument("--input", required=True, help="raw ROOT (local path or gs://bucket/raw), one folder per family")
    ap.add_argument("--output", required=True, help="CURATED output folder (local or gs://)")
    ap.add_argument("--sources", default="",
                    help=f"comma list of families to read, of {','.join(FAMILIES)}; default: every "
                         "family that has matching files under --input (a --dry_run lists nothing: name them)")
    ap.add_argument("--across-sources", action="store_true",
                    help="dedup over all sources together (default: within each source)")
    ap.add_argument("--num-shards", type=int, default=d["num_shards"].default,
                    help="Parquet files per source in kept/ and rejected/ (count). >= 1: rows placed by id "
                         "hash and sorted by id, byte-identical across runs; one shard's rows are held in a "
                         "worker's memory, so use a count that makes a shard fit (e.g. ~1 GB of text each). "
                         "0: the runner chooses, rows in no fixed order (bytes may differ between runs)")
    ap.add_argument("--threshold", type=finite_float, default=m.threshold,
                    help="near-duplicate Jaccard similarity of word 5-gram sets (0-1)")
    ap.add_argument("--num-perm", type=int, default=m.num_perm, help="MinHash permutations (signature length)")
    ap.add_argument("--ngram", type=int, default=m.ngram, help="words per MinHash shingle")
    ap.add_argument("--cc-rounds", type=int, default=d["cc_rounds"].default,
                    help="label-propagation rounds for near-dup connected components (count)")
    ap.add_argument("--no-verify-edges", action="store_true",
                    help="merge every LSH candidate pair without checking its estimated Jaccard")
    ap.add_argument("--no-langid", action="store_true", help="skip fastText English filtering on every source")
    ap.add_argument("--field", action="append", default=[], metavar="FAMILY.NAME=COLUMN",
                    help="read the reader field NAME of FAMILY from the export's COLUMN (JSON key or Parquet "
                         "column), e.g. stack.content=code or synthetic.id=task_id; repeatable")
    ap.add_argument("--fields", default=None, metavar="FILE",
                    help="YAML file {family: {field: column}} with the same mappings (--field wins)")
    ap.add_argument("--verify-python", default=None, metavar="PATH",
                    help="interpreter or virtualenv that runs synthetic solutions; the sandbox may read its "
                         "site-packages (numpy, ...). Default: a stdlib-only interpreter")
    ap.add_argument("--sandbox", choices=[m.value for m in SandboxMode], default=SandboxMode.STRICT.value,
                    help="strict (default): refuse to verify unless seccomp and Landlock are available; "
                         "best-effort: verify with whatever layers this kernel offers (warned on every run)")
    decontaminate.add_arguments(ap)
    redact.add_arguments(ap)
    limits = ap.add_argument_group("read limits", "caps per file and record (pipelines/sources/limits.py); "
                                   "input over a cap becomes a rejected record with its reason")
    for f in dataclasses.fields(ReadLimits):
        if f.name in IN_MEMORY_ONLY:
            continue
        limits.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=f.default, metavar="N",
                            help=f"{f.name.rsplit('_', 1)[-1]} (default %(default)s)")
    return split_args(ap, argv)


def config_from_args(args: argparse.Namespace) -> CurateConfig:
    mh = MinHashConfig(ngram=args.ngram, num_perm=args.num_perm, threshold=args.threshold)
    filters = dataclasses.replace(FilterConfig(), use_langid=not args.no_langid)
    from pipelines.sources import fields
    try:
        field_map = fields.build(args.field, args.fields)
    except fields.FieldMapError as e:
        raise SystemExit(f"curate: {e}") from e
    limits = ReadLimits(**{f.name: getattr(args, f.name, f.default) for f in dataclasses.fields(ReadLimits)})
    verify = VerifyConfig()
    verify = dataclasses.replace(verify, sandbox=dataclasses.replace(
        verify.sandbox, python=args.verify_python, mode=SandboxMode(args.sandbox)))
    return CurateConfig(filters=filters, decontam=decontaminate.config_from_args(args), verify=verify, minhash=mh,
                        across_sources=args.across_sources, cc_rounds=args.cc_rounds,
                        verify_edges=not args.no_verify_edges, num_shards=args.num_shards, read_limits=limits,
                        fields=field_map, pii=redact.config_from_args(args))


def sandbox_report(cfg: VerifyConfig, options: PipelineOptions) -> dict:
    """The sandbox layers a trivial run gets here (recorded in report.json/report.md); raises SystemExit
    naming the missing layer when strict mode cannot verify. A remote runner's workers check for themselves."""
    from sandbox import execution as sandbox
    info = {"mode": cfg.sandbox.mode.value, "python": cfg.sandbox.python or "stdlib-only default", "missing": []}
    runner = str(options.get_all_options().get("runner") or "DirectRunner")
    if runner.lower() not in ("directrunner", "direct", "prismrunner"):
        return {**info, "layers": [f"checked on the {runner} workers: where a layer is missing, each problem "
                                   "is rejected sandbox_unavailable"]}
    sandbox.log_best_effort(cfg.sandbox, logging.getLogger("sandbox"))
    try:
        layers = sandbox.require_layers(cfg.sandbox)
    except sandbox.SandboxUnavailable as exc:
        raise SystemExit(f"curate: refusing to verify synthetic problems: {exc}") from exc
    return {**info, "layers": list(layers),
            "missing": [name for name in sandbox.REQUIRED if not any(x.startswith(name) for x in layers)]}


def run(argv: Sequence[str] | None = None) -> dict:
    """Run the job, write the report, print the funnel; raises InvariantError if a record leaked.

    On a dry run (--dry_run=True) returns dry_run.summary() instead and writes nothing."""
    beam_files.configure_gcs_emulator()   # tests' local GCS: anonymous Beam client (no-op otherwise)
    args, beam_args = parse_args(argv)
    cfg = config_from_args(args)
    options = PipelineOptions(beam_args)
    dry = dry_run.is_dry_run(options)
    if dry:   # translate only: no listing of --input, no cleanup or report under --output
        dry_run.require_sources("curate", args.sources)
    families = [f for f in args.sources.split(",") if f]
    if not dry:   # every family folder with files must yield input (no silent "0 in")
        found = present_families(args.input, [f for f in families if f in FAMILIES] or None)
        families = families or found
    if not families:
        raise SystemExit(f"no family folder with input files under {args.input}; "
                         f"expected some of {sorted(FAMILIES)}")
    sources = sorted({s for f in families if f in FAMILIES for s in family_tags(f)})
    verified = any(FAMILIES[f].verify is not None for f in families if f in FAMILIES)
    sandbox_info = sandbox_report(cfg.verify, options) if verified and not dry else None
    command = "python -m pipelines.curate " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    # One run per --output (tokens/run_lock.py): a second run refuses, naming the first.
    with (contextlib.nullcontext() if dry else run_lock.hold(args.output, "curate", command)):
        if not dry:
            remove_stale_shards(args.output, sources)   # under the lock: the last run's files are ours now
        start = time.time()
        p = beam.Pipeline(options=options)
        sources = build_pipeline(p, args.input, args.output, families, cfg)
        result = p.run()
        result.wait_until_finish()
        if dry:
            info = dry_run.summary(result, options)
            dry_run.print_summary("curate", info)
            return info
        from pipelines.filters.decontaminate import cached_index, sets_used

        index = cached_index(cfg.decontam)
        extra = {"command": command, "input": args.input, "families": sorted(families),
                 "config": json_config(cfg), "decontaminated_against": {"sets": sets_used(index),
                                                                       "index": index.describe()}}
        if sandbox_info:
            extra["sandbox"] = sandbox_info
        report = finish_report(result, args.output, sources, extra)
        print(funnel.funnel_table(report))
        print(f"\ncurate: {len(sources)} sources in {time.time() - start:.1f} s -> {args.output}")
        if report["written_mismatch"]:
            raise funnel.InvariantError("CONSERVATION INVARIANT VIOLATED (counted documents != rows written):\n"
                                        + "\n".join(report["written_mismatch"]))
        funnel.check_invariant(report)
        return report


def json_config(cfg: CurateConfig) -> dict:
    """The config as plain JSON data (nested dataclasses flattened, other values as strings)."""
    import json
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str, sort_keys=True, allow_nan=False))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    show_progress()
    try:
        run(argv)
    except funnel.InvariantError as e:
        print(f"\n!!! {e}", file=sys.stderr)
        return 2
    except OSError as e:   # full disk, unwritable --output: one line naming the file; no report was published
        print(f"curate: error: {e}", file=sys.stderr)
        return 1
    except run_lock.FolderLocked as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Import by package name so DoFns pickle as pipelines.curate.*, not __main__.* (Dataflow workers).
    from pipelines import curate as _curate
    sys.exit(_curate.main())
