"""`python -m pipelines.sources --input ROOT`: read every family and print what came out.

A quick look at a raw corpus before running curate: files, documents and rejects per
family and source tag, with the most frequent reject reasons. Runs in-process (no Beam).
"""
from __future__ import annotations

import argparse
import collections
import os
import sys

from pipelines.document import Document
from pipelines.sources import FAMILIES, ReadLimits, family_files, parse_file
from pipelines.sources.fields import FieldMap
from tokens.flags import StrictArgumentParser


def summarize(root: str, families: list[str], limits: ReadLimits, fields: FieldMap = FieldMap()) -> list[dict]:
    from pipelines import beam_files  # imports Beam's filesystems: only when there is work to do
    beam_files.configure_gcs_emulator()
    rows = []
    for family in families:
        paths = family_files(family, root)
        per_source: dict[str, dict] = {}
        for path in paths:
            for record in parse_file(family, path, limits, root=root, fields=fields.for_family(family)):
                row = per_source.setdefault(record.source, {
                    "family": family, "source": record.source, "files": len(paths),
                    "documents": 0, "chars": 0, "rejected": 0, "reasons": collections.Counter()})
                if isinstance(record, Document):
                    row["documents"] += 1
                    row["chars"] += len(record.text)
                else:
                    row["rejected"] += 1
                    row["reasons"][record.reason_key] += 1
        if not per_source:
            per_source[FAMILIES[family].reader.SOURCE] = {"family": family, "source": FAMILIES[family].reader.SOURCE,
                                                   "files": len(paths), "documents": 0, "chars": 0,
                                                   "rejected": 0, "reasons": collections.Counter()}
        rows.extend(per_source[s] for s in sorted(per_source))
    return rows


def format_table(rows: list[dict], top: int) -> str:
    lines = [f"{'family':<14}{'source':<15}{'files':>6}{'documents':>11}{'chars':>13}{'rejected':>10}  top reasons",
             "-" * 96]
    for r in rows:
        reasons = ", ".join(f"{k} {n}" for k, n in r["reasons"].most_common(top))
        lines.append(f"{r['family']:<14}{r['source']:<15}{r['files']:>6}{r['documents']:>11}"
                     f"{r['chars']:>13}{r['rejected']:>10}  {reasons}")
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = StrictArgumentParser(prog="python -m pipelines.sources", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True,
                        help="raw corpus ROOT (local path or gs://bucket/prefix) with one folder per family")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma-separated families to read (default: all: %(default)s)")
    parser.add_argument("--top", type=int, default=3, help="reject reasons shown per row (count)")
    parser.add_argument("--max-doc-chars", type=int, default=ReadLimits.max_doc_chars,
                        help="longest document text in characters; longer ones are rejected")
    parser.add_argument("--field", action="append", default=[], metavar="FAMILY.NAME=COLUMN",
                        help="read reader field NAME of FAMILY from the export's COLUMN (as in curate); repeatable")
    parser.add_argument("--fields", default=None, metavar="FILE", help="YAML {family: {field: column}} mappings")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    if "://" not in args.input and not os.path.isdir(args.input):
        parser.error(f"--input {args.input} is not a directory")
    from pipelines.sources import fields
    try:
        field_map = fields.build(args.field, args.fields)
    except fields.FieldMapError as e:
        parser.error(str(e))
    rows = summarize(args.input, families, ReadLimits(max_doc_chars=args.max_doc_chars), field_map)
    print(format_table(rows, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(run())
