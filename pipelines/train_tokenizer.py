"""`python -m pipelines.train_tokenizer`: sample curated documents, train SentencePiece BPE.

The Beam job (DirectRunner locally, Dataflow at scale) only samples: per source it
measures documents and bytes, turns the budget into a keep-rate, and keeps a
document when the hash of its id falls under that rate, so the sample is the same
on every run and every runner. The launching process then puts the sample in a
canonical order (by id hash), splits it into training lines and trains SentencePiece
locally (training is single-machine in SentencePiece anyway).

Shares: proportional to bytes with a floor per source (default 5%) so small sources
(markup, notebooks...) are represented, or explicit `--weights source=x,...`.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
import shlex
import sys
import tempfile

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import beam_files, dry_run, sinks, tokenizer_budget
from tokens import paths
from pipelines.options import split_args
from pipelines.sources.curated import ReadCurated, resolve_sources
from tokens.flags import StrictArgumentParser
from tokens.cache import parse_bytes
from tokens.flags import finite_float
from tokens.tokenizer import SPACE, Tokenizer

SAMPLE_DIR = ".sample"   # under --output: the Beam job's sharded sample, removed after training
_SAMPLE_SHARD = re.compile(r"^part-\d{5}-of-\d{5}\.jsonl$")
_SAMPLE_OWN = re.compile(r"^(part-\d{5}-of-\d{5}\.jsonl|rates\.json)$")   # what the sample job publishes

# ---------------------------------------------------------------- SentencePiece training

# Whitespace runs as single pieces (spaces are written as U+2581 inside pieces).
WHITESPACE_PIECES = ("\n", "\n\n", "\r\n", "\t", "\t\t", "\t\t\t\t",
                     SPACE * 2, SPACE * 4, SPACE * 8, SPACE * 16)


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 8192              # sample-corpus default; the paper uses 256000 (preset FULL)
    sample_bytes: int = 8 << 20         # UTF-8 bytes of documents sampled across sources
    sample_docs: int = 0                # if > 0, sample this many documents instead of bytes
    min_source_share: float = 0.05      # floor per source, so code and markup are represented
    max_sentence_length: int = 16384    # bytes per training line; longer lines are cut (SPM default 4192)
    input_sentence_size: int = 0        # lines SPM keeps (0 = all; sampling is ours, by id hash)
    character_coverage: float = 1.0     # keep every seen character; rare ones still fall back to bytes
    num_threads: int = 2                # SPM trainer threads (does not change the result)
    seed: int = 0                       # SPM's global RNG seed (its own sampling is disabled anyway)
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    unk_id: int = 3

    def spm_args(self) -> dict:
        """Keyword arguments for SentencePieceTrainer.train (input/model_prefix added by caller)."""
        return dict(
            model_type="bpe", vocab_size=self.vocab_size, byte_fallback=True, split_digits=True,
            remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, add_dummy_prefix=False,
            normalization_rule_name="identity", user_defined_symbols=list(WHITESPACE_PIECES),
            character_coverage=self.character_coverage, max_sentence_length=self.max_sentence_length,
            input_sentence_size=self.input_sentence_size, shuffle_input_sentence=False,
            num_threads=self.num_threads, pad_id=self.pad_id, bos_id=self.bos_id,
            eos_id=self.eos_id, unk_id=self.unk_id, hard_vocab_limit=True, minloglevel=2)


SAMPLE = TokenizerConfig()
FULL = dataclasses.replace(SAMPLE, vocab_size=256000, sample_bytes=4 << 30, input_sentence_size=20_000_000,
                           num_threads=32)
PRESETS = {"sample": SAMPLE, "full": FULL}


def training_lines(text: str, max_bytes: int) -> list[str]:
    """A document as SPM training sentences: its lines (newlines are user pieces), long ones cut.

    Cuts fall on character boundaries so every line stays valid UTF-8; empty lines
    carry nothing to learn and are dropped.
    """
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        raw = line.encode("utf-8", "surrogatepass")
        while len(raw) > max_bytes:
            cut = max_bytes
            while cut > 0 and (raw[cut] & 0xC0) == 0x80:   # back off to a character start
                cut -= 1
            out.append(raw[:cut].decode("utf-8", "replace"))
            raw = raw[cut:]
        if raw.strip():
            out.append(raw.decode("utf-8", "replace"))
    return out


def train(sample_path: str, config: TokenizerConfig) -> bytes:
    """Train SentencePiece on one local text file (one sentence per line); returns model bytes.

    The model is fed through an iterator and returned as bytes, then canonicalised,
    so its SHA-256 depends only on the sample and the settings that shape the model:
    not on temporary paths or the thread count SentencePiece records in its spec.
    """
    import io

    import sentencepiece as spm

    def lines():
        with open(sample_path, encoding="utf-8", errors="surrogatepass", newline="\n") as f:
            for line in f:
                yield line[:-1] if line.endswith("\n") else line

    spm.set_random_generator_seed(config.seed)
    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=lines(), model_writer=writer, **config.spm_args())
    return canonical_model(writer.getvalue())


# TrainerSpec fields that describe the training run, not the model.
_RUN_ONLY_TRAINER_FIELDS = ("input", "model_prefix", "input_format", "num_threads")


def canonical_model(model: bytes) -> bytes:
    """The model without run-only TrainerSpec fields (tokens/proto/sentencepiece_model.proto), so its
    SHA-256 depends only on the sample and the settings that shape the model."""
    from tokens.proto import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto.FromString(model)
    for name in _RUN_ONLY_TRAINER_FIELDS:
        proto.trainer_spec.ClearField(name)
    return proto.SerializeToString(deterministic=True)


def id_fraction(doc_id: str) -> float:
    """Uniform in [0, 1) from the id alone: the sampling decision is a pure function of the id."""
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big") / 2.0**64


def source_shares(byte_totals: dict[str, int], floor: float,
                  weights: dict[str, float] | None = None) -> dict[str, float]:
    """Share of the sample budget per source: explicit weights, else bytes with a floor each."""
    if weights:
        total = sum(weights.values())
        return {s: weights.get(s, 0.0) / total for s in byte_totals}
    sources = [s for s in byte_totals if byte_totals[s] > 0]
    if not sources:
        return {s: 0.0 for s in byte_totals}
    if floor * len(sources) >= 1.0:
        return {s: (1.0 / len(sources) if s in sources else 0.0) for s in byte_totals}
    floored: set[str] = set()
    while True:   # raise small sources to the floor, spread the rest by bytes; repeat until stable
        free = [s for s in sources if s not in floored]
        rest = 1.0 - floor * len(floored)
        free_bytes = sum(byte_totals[s] for s in free)
        shares = {s: floor for s in floored}
        shares.update({s: rest * byte_totals[s] / free_bytes for s in free})
        low = {s for s in free if shares[s] < floor}
        if not low:
            return {s: shares.get(s, 0.0) for s in byte_totals}
        floored |= low


def keep_rates(stats: dict[str, tuple[int, int]], config: TokenizerConfig,
               weights: dict[str, float] | None) -> dict[str, float]:
    """stats: source -> (documents, bytes). Rate in [0, 1] per source for `id_fraction < rate`."""
    shares = source_shares({s: b for s, (_, b) in stats.items()}, config.min_source_share, weights)
    rates = {}
    for source, (docs, nbytes) in stats.items():
        budget, have = ((config.sample_docs, docs) if config.sample_docs > 0 else
                        (config.sample_bytes, nbytes))
        rates[source] = 0.0 if have == 0 else min(1.0, shares[source] * budget / have)
    return rates


def _sum_pairs(pairs):
    docs = nbytes = 0
    for d, b in pairs:
        docs += d
        nbytes += b
    return docs, nbytes


class KeepSampled(beam.DoFn):
    def process(self, row, rates):
        source = row["source"]
        if id_fraction(row["id"]) < rates.get(source, 0.0):
            Metrics.counter("train_tokenizer", f"{source}/sampled_docs").inc()
            yield json.dumps({"key": hashlib.sha256(row["id"].encode()).hexdigest(), "id": row["id"],
                              "source": source, "text": row["text"]}, ensure_ascii=False, allow_nan=False)


def build_sample(p, curated: str, sources: list[str], out_dir: str,
                 config: TokenizerConfig, weights: dict[str, float] | None,
                 validate: bool = True) -> None:
    """The Beam graph: sizes per source -> keep-rates -> sampled rows as JSON lines."""
    rows = p | "read curated" >> ReadCurated(curated, sources, validate)
    rates = (rows
             | "size per doc" >> beam.Map(lambda r: (r["source"], (1, len(r["text"].encode("utf-8")))))
             | "sum per source" >> beam.CombinePerKey(_sum_pairs)
             | "as one dict" >> beam.combiners.ToDict()
             | "keep rates" >> beam.Map(keep_rates, config, weights))
    (rows
     | "sample by id hash" >> beam.ParDo(KeepSampled(), beam.pvalue.AsSingleton(rates))
     | "write sample" >> sinks.WriteToText(paths.join(out_dir, "part"), file_name_suffix=".jsonl"))
    (rates
     | "rates json" >> beam.Map(lambda r: json.dumps(r, sort_keys=True, allow_nan=False))
     | "write rates" >> sinks.WriteToText(paths.join(out_dir, "rates"), file_name_suffix=".json",
                                            shard_name_template=""))


def write_training_text(sample_dir: str, path: str, max_bytes: int) -> dict[str, int]:
    """Sampled docs in id-hash order, one training line per text line; docs per source."""
    docs = []
    for name in paths.list_dir(sample_dir):   # literal: `--output 'tok[1]'` never reads tok1's sample
        if not _SAMPLE_SHARD.match(name):
            continue
        with paths.open_read(paths.join(sample_dir, name)) as f:
            docs.extend(json.loads(line) for line in f.read().decode("utf-8").splitlines() if line)
    docs.sort(key=lambda d: (d["key"], d["id"]))
    counts: dict[str, int] = {}
    with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as out:
        for doc in docs:
            counts[doc["source"]] = counts.get(doc["source"], 0) + 1
            for line in training_lines(doc["text"], max_bytes):
                out.write(line + "\n")
    return dict(sorted(counts.items()))


def remove_sample(sample_dir: str) -> None:
    """Delete the sample job's own files (literal listing, its own names only) from SAMPLE_DIR."""
    for name in paths.list_dir(sample_dir):
        if _SAMPLE_OWN.match(name):
            paths.delete(paths.join(sample_dir, name))


def loaded_bytes(path: str, input_sentence_size: int) -> int:
    """Bytes of the training lines SentencePiece will load: the file, or its first input_sentence_size lines."""
    if input_sentence_size <= 0:
        return os.path.getsize(path)
    used = lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(16 << 20):
            count = chunk.count(b"\n")
            if lines + count < input_sentence_size:
                used, lines = used + len(chunk), lines + count
                continue
            pos = -1
            for _ in range(input_sentence_size - lines):
                pos = chunk.index(b"\n", pos + 1)
            return used + pos + 1
    return used


def parse_weights(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    weights = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"--weights: {item!r} is not source=number") from None
        if not math.isfinite(weights[name.strip()]) or weights[name.strip()] < 0:
            raise SystemExit(f"--weights: {item!r} must be a finite number >= 0")
    if sum(weights.values()) <= 0:
        raise SystemExit("--weights: all weights are zero")
    return weights


def run(argv: list[str] | None = None) -> dict:
    beam_files.configure_gcs_emulator()   # tests' local GCS: anonymous Beam client (no-op otherwise)
    parser = StrictArgumentParser(prog="python -m pipelines.train_tokenizer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="curated root (holds kept/<source>/*.parquet); local or gs://")
    parser.add_argument("--output", required=True, help="tokenizer dir: writes tokenizer.model and tokenizer.json")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="sample",
                        help="defaults: 'sample' (vocab 8192, 8 MiB sample) or 'full' (vocab 256000, 4 GiB)")
    parser.add_argument("--vocab-size", type=int, help="vocabulary size in pieces (incl. 4 specials, 256 bytes)")
    parser.add_argument("--sample-bytes", type=int, help="target UTF-8 bytes of sampled documents")
    parser.add_argument("--sample-docs", type=int, help="target number of sampled documents (overrides bytes)")
    parser.add_argument("--min-source-share", type=finite_float, help="floor on each source's share of the sample (0-1)")
    parser.add_argument("--weights", help="explicit shares 'code=0.5,text=0.5' (relative; unlisted sources get 0)")
    parser.add_argument("--sources", help="comma-separated sources to sample (default: all under kept/; "
                                          "required with --dry_run=True, which lists nothing)")
    parser.add_argument("--num-threads", type=int, help="SentencePiece trainer threads (result does not depend on it)")
    parser.add_argument("--max-sentence-length", type=int, help="bytes per training line; longer lines are cut")
    parser.add_argument("--input-sentence-size", type=int,
                        help="training lines SentencePiece loads, the first N of the sample (0 = all; caps memory)")
    parser.add_argument("--memory-limit", type=parse_bytes, default=None, metavar="BYTES",
                        help="memory SentencePiece may use, e.g. 64G (default: this machine's memory or cgroup "
                             "limit); training that would need more is refused before it starts")
    args, beam_args = split_args(parser, argv)   # Beam's flags pass through; any other is refused

    overrides = {k: v for k, v in dict(
        vocab_size=args.vocab_size, sample_bytes=args.sample_bytes, sample_docs=args.sample_docs,
        min_source_share=args.min_source_share, num_threads=args.num_threads,
        max_sentence_length=args.max_sentence_length, input_sentence_size=args.input_sentence_size).items()
        if v is not None}
    config = dataclasses.replace(PRESETS[args.preset], **overrides)
    if config.sample_docs <= 0:   # refuse what cannot fit before the sampling job runs (SystemExit)
        print(tokenizer_budget.check(tokenizer_budget.effective_sample_bytes(
            config.sample_bytes, config.input_sentence_size), config.vocab_size, args.memory_limit))
    weights = parse_weights(args.weights)
    sample_dir = paths.join(args.output, SAMPLE_DIR)
    options = PipelineOptions(beam_args)
    if dry_run.is_dry_run(options):   # translate the sampling job only; no listing, no training
        dry_run.require_sources("train_tokenizer", args.sources)
        p = beam.Pipeline(options=options)
        build_sample(p, args.input, sorted(set(args.sources.split(","))), sample_dir, config, weights,
                     validate=False)
        info = dry_run.summary(p.run(), options)
        dry_run.print_summary("train_tokenizer", info)
        return info
    sources = resolve_sources(args.input, args.sources.split(",") if args.sources else None)
    remove_sample(sample_dir)   # a crashed earlier run's sample

    with beam.Pipeline(options=options) as p:
        build_sample(p, args.input, sources, sample_dir, config, weights)

    with paths.open_read(paths.join(sample_dir, "rates.json")) as f:
        rates = json.loads(f.read())
    with tempfile.TemporaryDirectory(prefix="train_tokenizer-") as tmp:
        text_path = os.path.join(tmp, "sample.txt")
        counts = write_training_text(sample_dir, text_path, config.max_sentence_length)
        if not counts:
            raise SystemExit(f"train_tokenizer: the sample is empty (rates {rates})")
        print(tokenizer_budget.check(loaded_bytes(text_path, config.input_sentence_size), config.vocab_size,
                                     args.memory_limit))
        model = train(text_path, config)
        tok = Tokenizer(model)
        meta = {"sha256": tok.sha256, "vocab_size": tok.vocab_size, "pad_id": tok.pad_id,
                "unk_id": tok.sp.unk_id(), "bos_id": tok.sp.bos_id(), "eos_id": tok.eos_id,
                "config": dict(dataclasses.asdict(config), weights=weights, keep_rates=rates,
                               sample_text_bytes=os.path.getsize(text_path)),
                "sources": counts,
                "created_by": " ".join(shlex.quote(a) for a in ["python", "-m", "pipelines.train_tokenizer",
                                                                 *(argv if argv is not None else sys.argv[1:])])}
    paths.write_atomic(paths.join(args.output, "tokenizer.model"), model)
    paths.write_atomic(paths.join(args.output, "tokenizer.json"),
                    (json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())
    remove_sample(sample_dir)
    if "://" not in sample_dir and os.path.isdir(sample_dir) and not os.listdir(sample_dir):
        os.rmdir(sample_dir)
    print(f"{'source':<16}{'keep rate':>10}{'docs':>10}")
    for source in sorted(rates):
        print(f"{source:<16}{rates[source]:>10.4f}{counts.get(source, 0):>10}")
    print(f"tokenizer {tok.sha256[:12]} vocab {tok.vocab_size} -> {args.output}")
    return meta


if __name__ == "__main__":
    run()
