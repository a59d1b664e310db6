"""`python -m pipelines.curate`: raw families -> filtered, verified, decontaminated, deduplicated Parquet.

Two passes over work items (a file, a Parquet row group, or a bucket of one Posts.xml's threads), so a
document's text crosses no shuffle (pipelines/curate_passes.py):
  pass 1, per item:  read -> count input -> filter [-> redact] [-> verify] -> decontaminate, in order; the
                     candidates and the rejects stream into the item's spill files (pipelines/spill.py);
                     out come only small records: the item's name and its exact and per-band MinHash
                     fingerprint arrays (pipelines/decisions.py);
  dedup:             exact and near dedup on the fingerprints; candidates' ids, exact digests and MinHash
                     signatures are read back from their items' spills for the full check, components by
                     union-find (pipelines/dedup/records.py) -> losers per item;
  pass 2, per item:  the spills stream into kept/<source>/ and rejected/<source>/ with the item's
                     decisions applied, rows in input order; every file is renamed into place only
                     after every item was written.
Outputs (README, "The stages"): OUTPUT/kept/<source>/part-NNNNN-of-MMMMM.parquet (id, source, text, meta;
N = the item's rank among its family's items, M their count), OUTPUT/rejected/<source>/... (+ reason,
stage), OUTPUT/report.json, report.md and funnel.png built from the job's "curate" counters. The job exits
non-zero if any source breaks in = kept + rejected + duplicates + errors. Same code on DirectRunner and
Dataflow.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import shlex
import sys
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import beam_files, dry_run, redact
from pipelines.curate_outputs import finish_report, remove_spill, remove_stale_shards
from pipelines.options import split_args
from pipelines.report import funnel
from pipelines.filters import decontaminate
from pipelines.filters.decontaminate import DecontamConfig
from pipelines.filters import FilterConfig
from pipelines.dedup.minhash import MinHashConfig
from pipelines.report.progress import show_progress
from pipelines.sources import FAMILIES, ReadLimits, family_tags
from pipelines.sources.fields import FieldMap
from pipelines.steps import NAMESPACE
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
    components: str = "union-find"   # near-dup components: union-find (one worker) or label-propagation "rounds"
    cc_rounds: int = 10              # unrolled label-propagation rounds of near dedup (components="rounds")
    verify_edges: bool = True        # drop LSH candidate edges whose estimated Jaccard < threshold
    num_shards: int = 0              # Stack Exchange buckets per Posts.xml (0: one per 64 MiB); others: one item per file/row group
    read_limits: ReadLimits = ReadLimits()   # decompressed bytes / characters caps per file and doc
    fields: FieldMap = FieldMap()            # --field/--fields: reader field -> export column, per family
    pii: redact.PiiConfig = redact.PiiConfig()   # --pii: e-mails, IPs, keys, passwords (pipelines/redact)


# ---------------------------------------------------------------- the pipeline

def _work_items(p, family: str, input_root: str, cfg: CurateConfig):
    """The family's work items: (path, part) per file or Parquet row group, or for a family with its own
    read transform (Stack Exchange) that module's `WorkItems`: ((path, bucket), (row spans, small rejects)).
    Each is a small record; its texts are read by pass 1."""
    from pipelines.sources.read import _ListFiles, _SplitFiles
    files = (p
             | f"Family {family}" >> beam.Create([family])
             | f"List {family} files" >> beam.ParDo(_ListFiles(family, input_root)))
    if FAMILIES[family].read_transform:
        import importlib
        module = importlib.import_module(FAMILIES[family].read_transform.partition(":")[0])
        return files | f"Read {family}" >> module.WorkItems(input_root, cfg.read_limits, num_shards=cfg.num_shards)
    files = files | f"Reshuffle {family} files" >> beam.Reshuffle()
    if hasattr(FAMILIES[family].reader, "parts"):
        return (files
                | f"Split {family} files into row groups" >> beam.ParDo(_SplitFiles(family, input_root, cfg.read_limits))
                | f"Reshuffle {family} row groups" >> beam.Reshuffle())
    return files | f"Whole {family} files" >> beam.Map(lambda path: (path, None))


def build_pipeline(p, input_root: str, output_root: str, families: Sequence[str], cfg: CurateConfig) -> list[str]:
    """Add the curate job to pipeline `p`; returns the source tags it writes.

    Pass 1 per work item (read, check, spill, fingerprint), dedup on fingerprints, pass 2 per work item
    (apply decisions, write shards), publish: pipelines/curate_passes.py. Only small records (names,
    fingerprint arrays, positions, reasons, user ids) cross a shuffle or side input."""
    from pipelines.curate_passes import ApplyDecisions, SignItems
    from pipelines.dedup.records import DedupRecords
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown or no families {unknown}; expected some of {sorted(FAMILIES)}")
    families = sorted(set(families))
    sources = sorted({s for f in families for s in family_tags(f)})
    items, arrays, user_ids = [], [], []
    for family in families:
        signed = (_work_items(p, family, input_root, cfg)
                  | f"Pass 1 {family}" >> SignItems(family, input_root, output_root, cfg))
        items.append(signed.items)
        arrays.append(signed.arrays)
        user_ids.append(signed.user_ids)
    _ = (tuple(user_ids)
         | "Merge user ids" >> beam.Flatten()
         | "Records per user id" >> beam.CombinePerKey(sum)
         | "Count ids shared by several records" >> beam.ParDo(_CountSharedFn()))
    bands, rows = cfg.minhash.band_rows
    mh = dataclasses.replace(cfg.minhash, bands=bands, rows=rows)
    losers = (tuple(arrays)
              | "Merge fingerprints" >> beam.Flatten()
              | "Dedup" >> DedupRecords(output_root, mh, cfg.across_sources, cfg.cc_rounds, cfg.verify_edges,
                                           cfg.components))
    all_items = tuple(items) | "Merge items" >> beam.Flatten()
    _ = ({"item": all_items, "losers": losers}
         | "Pass 2" >> ApplyDecisions(output_root, {f: family_tags(f) for f in families}))
    return sources


class _CountSharedFn(beam.DoFn):
    """((source, user id), records) -> counters of user ids several records carry (never merged)."""

    def process(self, element):
        (source, _), n = element
        if n > 1:
            Metrics.counter(NAMESPACE, f"{source}/duplicate_ids").inc()
            Metrics.counter(NAMESPACE, f"{source}/duplicate_id_documents").inc(n)
        return []


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
                    help="Stack Exchange only: each Posts.xml's threads are split into this many work items "
                         "(buckets by question-Id hash; count), i.e. Parquet files in kept/stackexchange and "
                         "rejected/stackexchange; a bucket's rows are held in one worker's memory. 0 (default): "
                         "one bucket per 64 MiB of the file (pipelines/sources/posts_buckets.py). Every other "
                         "family writes one kept/ and one rejected/ file per source and input file (or Parquet "
                         "row group), rows in input order, byte-identical across runs")
    ap.add_argument("--threshold", type=finite_float, default=m.threshold,
                    help="near-duplicate Jaccard similarity of word 5-gram sets (0-1)")
    ap.add_argument("--num-perm", type=int, default=m.num_perm, help="MinHash permutations (signature length)")
    ap.add_argument("--ngram", type=int, default=m.ngram, help="words per MinHash shingle")
    ap.add_argument("--components", choices=("union-find", "rounds"), default=d["components"].default,
                    help="near-duplicate connected components: union-find in one worker (exact; holds every "
                         "near-duplicate document's id once, ~0.2 KB each) or label-propagation rounds spread "
                         "over all workers, for duplicate graphs larger than one worker's memory")
    ap.add_argument("--cc-rounds", type=int, default=d["cc_rounds"].default,
                    help="label-propagation rounds with --components rounds (count)")
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
                        across_sources=args.across_sources, cc_rounds=args.cc_rounds, components=args.components,
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
        try:
            result = p.run()
            result.wait_until_finish()
        finally:
            if not dry:
                remove_spill(args.output)
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
