"""Bytes entering every shuffle and side input of the tokenize job, per document (standalone script).

Builds `pipelines.tokenize.build` of whichever checkout PYTHONPATH names (so the same script measures a peer
such as main before the change), attaches benchmarks/shuffle_probe.py's probe to the input of every
GroupByKey and every side input, runs it on the DirectRunner and prints one JSON line:
{"documents", "shuffle_bytes", "bytes_per_doc", "by_step"} (Beam's default coder).

    PYTHONPATH=CHECKOUT python benchmarks/tokenize_shuffle_probe.py --input CURATED --tokenizer MODEL --output OUT
"""
from __future__ import annotations

import os
import sys

# Run as a file, this folder would come first on sys.path and its tokenize.py would shadow the stdlib's.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402

import apache_beam as beam  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, help="curated root (kept/<source>/*.parquet, _COMPLETE.json)")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.model")
    ap.add_argument("--output", required=True, help="scratch TOKENS folder (written)")
    args = ap.parse_args(argv)
    # Everything below comes from the checkout PYTHONPATH names (the peer's own benchmarks/shuffle_probe.py).
    from benchmarks.shuffle_probe import probe
    from pipelines import tokenize
    from pipelines.sources.curated import resolve_sources
    from tokens.tokenizer import Tokenizer
    tok = Tokenizer.load(args.tokenizer)
    cfg = tokenize.TokenizeConfig(tokenizer=args.tokenizer, tokenizer_sha256=tok.sha256, vocab_size=tok.vocab_size,
                                  eos_id=tok.eos_id, pad_id=tok.pad_id)
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    tokenize.build(p, args.input, resolve_sources(args.input, None), args.output, cfg, "probe", "probe")
    labels = probe(p)
    result = p.run()
    result.wait_until_finish()
    sizes = {int(c.key.metric.name): c.committed for c in
             result.metrics().query(MetricsFilter().with_namespace("shuffle_probe"))["counters"]}
    docs = sum(c.committed for c in result.metrics().query(MetricsFilter().with_namespace("tokenize"))["counters"]
               if c.key.metric.name.endswith("/documents"))
    by_step: dict[str, int] = {}
    for i, label in enumerate(labels):
        by_step[label] = by_step.get(label, 0) + sizes.get(i, 0)
    total = sum(by_step.values())
    print(json.dumps({"documents": docs, "shuffle_bytes": total, "bytes_per_doc": total / max(1, docs),
                      "by_step": {k: v for k, v in sorted(by_step.items(), key=lambda kv: -kv[1]) if v}},
                     allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
