"""Bytes entering every shuffle and side input of the curate job, per input document (standalone script).

Builds `pipelines.curate.build_pipeline` (of whichever checkout PYTHONPATH names, so the same script
measures a peer such as main before the change), attaches a probe to the input of every GroupByKey
(also those inside CoGroupByKey, Reshuffle, Distinct, CombinePerKey) and to every side input, runs it on
the DirectRunner and sums the size of each element under Beam's default coder (FastPrimitivesCoder,
pickle for other objects). Prints one JSON line: {"documents", "shuffle_bytes", "bytes_per_doc", "by_step"}.

    PYTHONPATH=CHECKOUT python benchmarks/shuffle_probe.py --input RAW --output OUT --sources slimpajama
"""
from __future__ import annotations

import os
import sys

# Run as a file, this folder would come first on sys.path and its tokenize.py would shadow the stdlib's.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402

import apache_beam as beam  # noqa: E402
from apache_beam.coders import registry
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions


class _Size(beam.DoFn):
    def __init__(self, index: int):
        self.index = index

    def setup(self):
        self.coder = registry.get_coder(object)

    def process(self, element):
        Metrics.counter("shuffle_probe", f"{self.index}").inc(len(self.coder.encode(element)))
        return []


def shuffle_inputs(p) -> list[tuple[str, object]]:
    """(label, PCollection) for the input of every GroupByKey and every side input of the graph."""
    from apache_beam.pipeline import PipelineVisitor
    from apache_beam.transforms.core import GroupByKey
    targets = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(node.transform, GroupByKey):
                targets.append((node.full_label, node.inputs[0]))
            for side in node.side_inputs:
                targets.append((node.full_label + " (side input)", side.pvalue))

        enter_composite_transform = visit_transform

    p.visit(Visitor())
    return targets


def probe(p) -> list[str]:
    """Attach a size probe to every GroupByKey input and side input; returns their labels by index."""
    targets = shuffle_inputs(p)
    for i, (_, pcoll) in enumerate(targets):
        _ = pcoll | f"Shuffle probe {i}" >> beam.ParDo(_Size(i))
    return [label for label, _ in targets]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, help="raw ROOT (one folder per family)")
    ap.add_argument("--output", required=True, help="scratch output folder (written)")
    ap.add_argument("--sources", default="slimpajama", help="comma list of families")
    ap.add_argument("--no-langid", action="store_true", help="skip language ID (as curate's flag)")
    args = ap.parse_args(argv)
    from pipelines import curate
    cfg = curate.CurateConfig()
    if args.no_langid:
        import dataclasses
        cfg = dataclasses.replace(cfg, filters=dataclasses.replace(cfg.filters, use_langid=False))
    p = beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"]))
    curate.build_pipeline(p, args.input, args.output, args.sources.split(","), cfg)
    labels = probe(p)
    result = p.run()
    result.wait_until_finish()
    sizes = {int(c.key.metric.name): c.committed for c in
             result.metrics().query(MetricsFilter().with_namespace("shuffle_probe"))["counters"]}
    docs = sum(c.committed for c in result.metrics().query(MetricsFilter().with_namespace("curate"))["counters"]
               if c.key.metric.name.endswith("/in"))
    by_step: dict[str, int] = {}
    for i, label in enumerate(labels):
        by_step[label] = by_step.get(label, 0) + sizes.get(i, 0)
    total = sum(by_step.values())
    print(json.dumps({"documents": docs, "shuffle_bytes": total, "bytes_per_doc": total / max(1, docs),
                      "by_step": {k: v for k, v in sorted(by_step.items(), key=lambda kv: -kv[1]) if v}}, allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
