"""`python -m pipelines.tokenize`: curated Parquet -> ArrayRecord token shards + manifest per source.

Per document: SentencePiece ids + EOS, serialized as a tf.train.Example (tokens.records).
The job runs in passes over work items (a row group of a kept Parquet file; pipelines/tokenize_passes.py):
each document is encoded once, its tokens go to a per-item spill under OUTPUT/.tokenize-spill and from there
straight into its shard; only ids' held-out keys, token counts and held-out candidates' window hashes cross
a shuffle or side input. Placement keeps input order (items by file name and row group, rows in order): a
split's documents are cut into `count` contiguous runs of about equal tokens, so a rerun writes
byte-identical shards. Each shard and its lengths sidecar part-NNNNN-of-MMMMM.lengths (uint32 LE tokens per
record, record order: the trainer samples by token counts without reading records) are written under hidden
temporary names and renamed only once every shard of the job is written (a failure publishes nothing); a
source's manifest.json (which names both per shard) is written last, after stale temporaries, shards and
sidecars of another shard count are removed. A rerun after a crash converges to the same bytes as a clean run.

Held-out split (evals/): a document is held out when its held-out key (sha256 of "heldout\\0" + id, its
own hash domain) falls in the lowest `--heldout-fraction` of the key space, or is among the source's
`--heldout-min-documents` smallest keys (capped at 10% of the source, so small sources keep a measurable
set without losing their training data). Held-out documents go to heldout-NNNNN-of-MMMMM shards that the
manifest lists apart, outside its totals: the mixer's token counts and the training loader never see them.
A candidate whose content the corpus holds elsewhere (more than --heldout-max-overlap of its distinct
32-token windows in another document: a near-duplicate, pipelines/heldout_overlap.py) trains instead, so
held-out content is never trained on; the counter <source>/heldout_moved_to_train says how many moved. With
that rule on, 4x the minimum count are candidates (at most 40% of the source) and the minimum is taken among
those that pass, so templated sources still keep held-out documents when enough unique ones exist.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import subprocess
import sys
from collections import Counter

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import beam_files, dry_run
from pipelines import tokenize_passes as passes
from tokens import paths
from tokens import run_lock
from tokens import shards
from pipelines.heldout_overlap import WindowIndex, final_heldout
from pipelines.options import split_args
from pipelines.sources.curated import resolve_sources
from tokens.flags import StrictArgumentParser
from tokens.manifest import MANIFEST_NAME, Manifest, ManifestError, Shard, load_manifest, write_manifest
from pipelines.report.progress import show_progress


@dataclasses.dataclass(frozen=True)
class TokenizeConfig:
    tokenizer: str                      # path to tokenizer.model, as given
    tokenizer_sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int
    num_shards: int = 0                 # shards per source; 0 = derive from target_shard_tokens
    target_shard_tokens: int = 50_000_000   # tokens per shard when num_shards is 0 (~100-200 MB files)
    batch_size: int = 256               # documents per SentencePiece batch call
    num_threads: int = 0                # SentencePiece encode threads per worker (0 = min(8, cores))
    heldout_fraction: float = 0.01      # share of each source's documents held out (by id hash)
    heldout_min_documents: int = 16     # at least this many per source (at most 10% of the source)
    heldout_max_overlap: float = 0.01   # held-out candidates sharing more of their 32-token windows train (1 = off)

    def hash(self) -> str:
        """What determines the shard bytes: tokenizer, shard layout, record format."""
        return shards.config_hash({
            "tokenizer_sha256": self.tokenizer_sha256, "num_shards": self.num_shards,
            "target_shard_tokens": self.target_shard_tokens if self.num_shards == 0 else None,
            "append_eos": True, "placement": "input order, contiguous token ranges", "record": "tf.train.Example{text:int64,source:bytes}",
            "heldout": [self.heldout_fraction, self.heldout_min_documents]
            + ([self.heldout_max_overlap] if self.heldout_max_overlap < 1 else []),
            "writer_options": shards.WRITER_OPTIONS})


TRAIN, HELDOUT = "train", "heldout"


OVERSAMPLE = 4   # with the overlap rule: 4x the minimum count are candidates (capped at 40% of the source)


def heldout_threshold(smallest: list[int], documents: int, min_documents: int, share: float = 0.1) -> int:
    """Largest held-out key admitted by the minimum count (-1: none): the k-th smallest key of the source,
    k = min(min_documents, documents * share) (share 0.1: at most 10% of the source)."""
    k = min(min_documents, int(documents * share))
    return sorted(smallest)[k - 1] if k > 0 and len(smallest) >= k else -1


def split_of(doc_id: str, fraction: float, threshold: int) -> str:
    key = shards.heldout_key(doc_id)
    return HELDOUT if key < fraction * 2.0 ** 64 or key <= threshold else TRAIN


class WriteManifest(beam.DoFn):
    """All shard summaries of a source -> stale files removed -> manifest.json (last)."""

    def __init__(self, output: str, config: TokenizeConfig, code_version: str, created_by: str,
                 listed: dict[str, list[str]] | None = None):
        self.output, self.config = output, config
        self.code_version, self.created_by = code_version, created_by
        self.listed = listed   # source -> names in its folder before the job wrote (None: list now)

    def process(self, element):
        source, summaries = element
        summaries = sorted(summaries, key=lambda s: s["path"])
        directory = paths.join(self.output, source)
        listed = None if self.listed is None else self.listed.get(source, [])
        for path in shards.stale_files(directory, keep=[s["path"] for s in summaries], listed=listed):
            paths.delete(path)
        held = [s for s in summaries if s["split"] == HELDOUT]
        summaries = [s for s in summaries if s["split"] == TRAIN]
        lengths: Counter = Counter()
        for s in summaries:
            lengths.update({int(k): v for k, v in s["lengths"].items()})
        cfg = self.config
        manifest = Manifest(
            source=source,
            tokenizer={"sha256": cfg.tokenizer_sha256, "vocab_size": cfg.vocab_size, "eos_id": cfg.eos_id,
                       "pad_id": cfg.pad_id, "path": cfg.tokenizer},
            shards=tuple(_shard_entry(s) for s in summaries),
            documents=sum(s["documents"] for s in summaries), tokens=sum(s["tokens"] for s in summaries),
            length_histogram=shards.length_histogram(lengths), config_hash=cfg.hash(),
            code_version=self.code_version, created_by=self.created_by,
            heldout=tuple(_shard_entry(s) for s in held),
            heldout_rule={"fraction": cfg.heldout_fraction, "min_documents": cfg.heldout_min_documents,
                          "key": "sha256('heldout\\0' + id)[:8] big-endian < fraction * 2^64, or among "
                                 "the min(min_documents, documents // 10) smallest keys",
                          "max_overlap": cfg.heldout_max_overlap,
                          "overlap": "a candidate with more than max_overlap of its distinct 32-token windows in "
                                     "another document trains (pipelines/heldout_overlap.py)"} if held else {})
        yield write_manifest(directory, manifest)


def _shard_entry(summary: dict) -> Shard:
    """The manifest entry of a written shard: counts, sidecar and both checksums."""
    return Shard(summary["path"], summary["documents"], summary["tokens"], summary["lengths_path"],
                 summary["bytes"], summary["crc32c"], summary["lengths_crc32c"])


def _thresholds(element, wide: int, share: float):
    """(source, per-item (documents, smallest keys)) -> (source, (documents, minimum-count threshold))."""
    source, grouped = element
    documents, smallest = passes.merge_keys(grouped, max(1, wide))
    return source, (documents, heldout_threshold(smallest, documents, wide, share))


def _index(candidates) -> WindowIndex:
    """Every held-out candidate (sorted: a fixed order) -> its windows indexed, its small fields kept in .meta."""
    candidates = sorted(candidates, key=lambda c: (c[0], c[1], passes.item_order(c[3]), c[4]))
    index = WindowIndex([((c[0], c[1]), c[6] if c[6] is not None else np.zeros(0, np.uint64)) for c in candidates])
    index.meta = [c[:6] for c in candidates]   # (source, id, key, item, position, tokens)
    return index


def _decide(index: WindowIndex, stats: dict, bits, config: TokenizeConfig, rule: bool) -> dict:
    """-> {(source, item): {position: tokens}} of the documents held out: the overlap rule applied to the
    candidates' windows and the OR of pass H's bitmaps (heldout_overlap.final_heldout)."""
    hit = None if bits is None else np.unpackbits(bits, count=index.entries).astype(bool)
    fractions = index.fractions(hit).tolist()
    keep, moved = final_heldout([(c[0], c[2]) for c in index.meta], fractions,
                                {s: docs for s, (docs, _) in stats.items()}, config.heldout_max_overlap,
                                config.heldout_fraction, config.heldout_min_documents, rule)
    for source, n in moved.items():
        Metrics.counter("tokenize", f"{source}/heldout_moved_to_train").inc(n)
    held: dict = {}
    for c, stays in zip(index.meta, keep):
        if stays:
            held.setdefault((c[0], c[3]), {})[c[4]] = c[5]
    return held


def build(p, curated: str, sources: list[str], output: str, config: TokenizeConfig,
          code_version: str, created_by: str, validate: bool = True,
          listed: dict[str, list[str]] | None = None):
    """The Beam graph (pipelines/tokenize_passes.py); returns the PCollection of written manifest paths.
    Only item names, per-document token counts, held-out keys and candidates' window hashes cross a shuffle
    or side input. `listed`: each source folder's names before the job (stale-file candidates;
    shards.stale_files). `validate` is kept for the dry run: nothing is listed while the graph is built."""
    heldout = config.heldout_fraction > 0 or config.heldout_min_documents > 0
    rule = heldout and config.heldout_max_overlap < 1
    wide = config.heldout_min_documents * (OVERSAMPLE if rule else 1)
    share = 0.1 * (OVERSAMPLE if rule else 1)
    items = (p
             | "sources" >> beam.Create(sorted(sources))
             | "list work items" >> beam.ParDo(passes.ListItems(curated))
             | "spread work items" >> beam.Reshuffle())
    stats = (items
             | "held-out keys per item" >> beam.ParDo(passes.ItemKeys(max(1, wide)))
             | "held-out keys per source" >> beam.GroupByKey()
             | "held-out thresholds" >> beam.Map(_thresholds, wide, share if heldout else 0.0))
    encoded = (items
               | "encode and spill" >> beam.ParDo(
                   passes.EncodeItem(config, output, config.heldout_fraction if heldout else 0.0, rule),
                   beam.pvalue.AsDict(stats)).with_outputs(passes.CANDIDATES, main="items"))
    done = encoded["items"]
    index = (encoded[passes.CANDIDATES]
             | "all candidates" >> beam.combiners.ToList()
             | "index candidate windows" >> beam.Map(_index))
    bits = None
    if rule:
        bits = (done
                | "candidate windows found elsewhere" >> beam.ParDo(passes.FindHits(config.vocab_size),
                                                                    beam.pvalue.AsSingleton(index))
                | "or of hit bitmaps" >> beam.CombineGlobally(passes.OrBits()))
    held = index | "held-out documents" >> beam.Map(
        _decide, beam.pvalue.AsDict(stats), beam.pvalue.AsSingleton(bits) if rule else None, config, rule)

    def split_counts(split, tokens):
        if split == passes.HELDOUT:
            return shards.shard_count(tokens, config.target_shard_tokens) if heldout else 0
        return shards.shard_count(tokens, config.target_shard_tokens, config.num_shards)

    every_source = p | "every source" >> beam.Create([(s, None) for s in sorted(sources)])   # empty ones too
    return ((done, every_source)
            | "items and sources" >> beam.Flatten()
            | "items per source" >> beam.GroupByKey()
            | "plan shards" >> beam.FlatMap(passes.plan_shards, beam.pvalue.AsSingleton(held), split_counts)
            | "spread shards" >> beam.Reshuffle()
            | "write shard" >> beam.ParDo(passes.WriteShard(output, config.vocab_size, config.batch_size))
            | "all shards written" >> beam.combiners.ToList()
            | "publish shards" >> beam.FlatMap(passes.publish)
            | "group by source" >> beam.GroupByKey()
            | "write manifest" >> beam.ParDo(WriteManifest(output, config, code_version, created_by, listed)))


def code_version() -> str:
    """Git commit of this checkout if there is one, else the installed package version."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        if sha:
            return sha
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from importlib.metadata import version

        return version("code-mixtures")
    except Exception:
        return "unknown"


def check_previous(output: str, sources: list[str], sha256: str, overwrite: bool) -> None:
    """Refuse to mix tokenizers in one TOKENS dir; then retract old manifests before rewriting."""
    for source in sources:
        path = paths.join(output, source, MANIFEST_NAME)
        if not paths.exists(path):
            continue
        try:
            previous = load_manifest(path).tokenizer_sha256
        except ManifestError:
            previous = None
        if previous != sha256 and not overwrite:
            raise SystemExit(f"tokenize: {path} was written with tokenizer "
                             f"{(previous or 'unreadable')[:12]}, not {sha256[:12]}; "
                             f"pass --overwrite to replace it or choose another --output")
        paths.delete(path)   # a half-rewritten source must never look complete


def run(argv: list[str] | None = None) -> dict[str, Manifest]:
    beam_files.configure_gcs_emulator()   # tests' local GCS: anonymous Beam client (no-op otherwise)
    parser = StrictArgumentParser(prog="python -m pipelines.tokenize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="curated root (kept/<source>/*.parquet); local or gs://")
    parser.add_argument("--tokenizer", required=True, help="tokenizer.model from pipelines.train_tokenizer")
    parser.add_argument("--output", required=True, help="TOKENS root: writes <source>/part-*.array_record, their "
                                                        "part-*.lengths sidecars and manifest.json")
    parser.add_argument("--sources", help="comma-separated sources (default: every source under kept/; "
                                          "required with --dry_run=True, which lists nothing)")
    parser.add_argument("--num-shards", type=int, default=0, help="shards per source (default: from --target-shard-tokens)")
    parser.add_argument("--target-shard-tokens", type=int, default=TokenizeConfig.target_shard_tokens,
                        help="tokens per shard when --num-shards is not given")
    parser.add_argument("--batch-size", type=int, default=TokenizeConfig.batch_size,
                        help="documents per SentencePiece encode call")
    parser.add_argument("--num-threads", type=int, default=0, help="SentencePiece threads per worker (0 = auto)")
    parser.add_argument("--heldout-fraction", type=float, default=TokenizeConfig.heldout_fraction,
                        help="fraction (0-1) of each source's documents held out for evaluation, chosen by id hash "
                             "and written to separate heldout-* shards outside the manifest's totals "
                             f"(default {TokenizeConfig.heldout_fraction}; 0 with --heldout-min-documents 0 = none)")
    parser.add_argument("--heldout-min-documents", type=int, default=TokenizeConfig.heldout_min_documents,
                        help="held-out documents per source at least (capped at 10%% of the source's documents; "
                             f"default {TokenizeConfig.heldout_min_documents})")
    parser.add_argument("--heldout-max-overlap", type=float, default=TokenizeConfig.heldout_max_overlap,
                        help="a held-out candidate with more than this share of its distinct 32-token windows in "
                             "another document trains instead (0-1; 1 = off; default "
                             f"{TokenizeConfig.heldout_max_overlap})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace sources whose manifest names a different tokenizer")
    args, beam_args = split_args(parser, argv)   # Beam's flags pass through; any other is refused
    from tokens.tokenizer import Tokenizer

    tok = Tokenizer.load(args.tokenizer)
    config = TokenizeConfig(tokenizer=args.tokenizer, tokenizer_sha256=tok.sha256, vocab_size=tok.vocab_size,
                            eos_id=tok.eos_id, pad_id=tok.pad_id, num_shards=args.num_shards,
                            target_shard_tokens=args.target_shard_tokens, batch_size=args.batch_size,
                            num_threads=args.num_threads, heldout_fraction=args.heldout_fraction,
                            heldout_min_documents=args.heldout_min_documents,
                            heldout_max_overlap=args.heldout_max_overlap)
    if not 0 <= config.heldout_fraction < 1 or config.heldout_min_documents < 0:
        parser.error("--heldout-fraction must be in [0, 1) and --heldout-min-documents >= 0")
    if not 0 <= config.heldout_max_overlap <= 1:
        parser.error("--heldout-max-overlap must be in [0, 1]")
    options = PipelineOptions(beam_args)
    created_by = " ".join(shlex.quote(a) for a in ["python", "-m", "pipelines.tokenize",
                                                    *(argv if argv is not None else sys.argv[1:])])
    if dry_run.is_dry_run(options):   # translate only: no listing of --input, nothing under --output
        dry_run.require_sources("tokenize", args.sources)
        p = beam.Pipeline(options=options)
        build(p, args.input, sorted(set(args.sources.split(","))), args.output, config, code_version(),
              created_by, validate=False)
        info = dry_run.summary(p.run(), options)
        dry_run.print_summary("tokenize", info)
        return info
    # Only a finished curate run's kept shards (CURATED/_COMPLETE.json, tokens/completion.py).
    sources = resolve_sources(args.input, args.sources.split(",") if args.sources else None)
    with run_lock.hold(args.output, "tokenize", created_by):   # a second run into TOKENS refuses, naming this one
        check_previous(args.output, sources, tok.sha256, args.overwrite)
        listed = {s: shards.stale_files(paths.join(args.output, s), keep=()) for s in sources}   # before any write
        listed = {s: [paths.basename(path) for path in found] for s, found in listed.items()}
        passes.remove_spill(args.output)   # a killed run's spill
        try:
            with beam.Pipeline(options=options) as p:
                build(p, args.input, sources, args.output, config, code_version(), created_by, listed=listed)
        finally:   # a failed run publishes nothing: its staged shards and its spill go (we hold the lock)
            passes.remove_spill(args.output)
            for s in sources:
                for name in paths.list_dir(paths.join(args.output, s)):
                    if name.startswith(shards.TEMP_PREFIX) and name not in listed[s]:
                        paths.delete(paths.join(args.output, s, name))
    manifests = {s: load_manifest(paths.join(args.output, s, MANIFEST_NAME)) for s in sources}
    print(f"{'source':<16}{'documents':>12}{'tokens':>14}{'shards':>8}{'median len':>12}{'share':>8}"
          f"{'held-out docs':>15}{'tokens':>10}")
    total = sum(m.tokens for m in manifests.values()) or 1
    for s, m in manifests.items():
        held = m.heldout_manifest()
        print(f"{s:<16}{m.documents:>12}{m.tokens:>14}{len(m.shards):>8}"
              f"{m.length_histogram['median']:>12}{m.tokens / total:>8.1%}{held.documents:>15}{held.tokens:>10}")
    print(f"{'total':<16}{sum(m.documents for m in manifests.values()):>12}{total:>14}")
    return manifests


def main(argv: list[str] | None = None) -> int:
    show_progress()
    try:
        run(argv)
    except OSError as e:   # full disk, unwritable --output: one line naming the file, no half-published source
        print(f"tokenize: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
