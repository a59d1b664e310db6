"""Precision and recall of the PII/secret redactor per kind on the annotated set under tests/.

    python -m benchmarks.pii_eval [--split dev|test|both] [--show-errors N]

The set (tests/pipelines/redact/data/pii_eval_{dev,test}.jsonl) comes from the seeded generator next to
it. A found span is a true positive when it overlaps a gold span of the same kind (each gold span
counts once); every other found span is a false positive, including any hit on a look-alike. Recall
is matched gold spans / gold spans; "covered" is the share of gold spans whose every character lies
inside found spans of its kind (a partly redacted key still leaks the rest). Look-alikes kept is the
share of look-alike spans that no found span touches.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

from pipelines.redact import find
from pipelines.redact.spans import KINDS

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "pipelines", "redact", "data")


def load(split: str) -> list[dict]:
    with open(os.path.join(DATA, f"pii_eval_{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def score(rows: list[dict], show_errors: int = 0) -> dict:
    tp, fp, fn, covered, gold = (defaultdict(int) for _ in range(5))
    looks_total = looks_hit = 0
    errors = []
    overlap = lambda a, b: a["start"] < b["end"] and b["start"] < a["end"]   # noqa: E731
    for row in rows:
        found = [{"start": s.start, "end": s.end, "kind": s.kind} for s in find(row["text"])]
        used = set()
        for g in row["spans"]:
            gold[g["kind"]] += 1
            hits = [i for i, s in enumerate(found) if s["kind"] == g["kind"] and overlap(s, g)]
            if hits:
                tp[g["kind"]] += 1
                used.update(hits)
                chars = set().union(*(range(found[i]["start"], found[i]["end"]) for i in hits))
                covered[g["kind"]] += all(c in chars for c in range(g["start"], g["end"]))
            else:
                fn[g["kind"]] += 1
                errors.append(("missed", g["kind"], row["text"][g["start"]:g["end"]], row["id"]))
        for i, s in enumerate(found):
            if i not in used:
                fp[s["kind"]] += 1
                errors.append(("false", s["kind"], row["text"][s["start"]:s["end"]], row["id"]))
        for look in row["lookalikes"]:
            looks_total += 1
            looks_hit += any(overlap(s, look) for s in found)
    per_kind = {}
    for k in KINDS:
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 1.0
        r = tp[k] / gold[k] if gold[k] else 1.0
        per_kind[k] = {"gold": gold[k], "tp": tp[k], "fp": fp[k], "fn": fn[k], "precision": round(p, 4),
                       "recall": round(r, 4), "covered": round(covered[k] / gold[k], 4) if gold[k] else 1.0}
    for e in errors[:show_errors]:
        print("  ", e, file=sys.stderr)
    return {"documents": len(rows), "kinds": per_kind, "lookalikes": looks_total,
            "lookalikes_kept": round(1 - looks_hit / looks_total, 4) if looks_total else 1.0}


def table(name: str, result: dict) -> str:
    lines = [f"{name}: {result['documents']} documents, {sum(v['gold'] for v in result['kinds'].values())} "
             f"positive spans, {result['lookalikes']} look-alikes ({100 * result['lookalikes_kept']:.1f}% kept)",
             "| kind | gold | TP | FP | FN | precision | recall | fully covered |", "|---|---|---|---|---|---|---|---|"]
    for k, v in result["kinds"].items():
        lines.append(f"| {k} | {v['gold']} | {v['tp']} | {v['fp']} | {v['fn']} | {v['precision']:.3f} | "
                     f"{v['recall']:.3f} | {v['covered']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pii_eval", description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("dev", "test", "both"), default="both",
                    help="dev: the half the guards were built against; test: the held-out half")
    ap.add_argument("--show-errors", type=int, default=0, metavar="N", help="print N misses/false hits to stderr")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON instead of tables")
    ap.add_argument("--record", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    results = {s: score(load(s), args.show_errors) for s in splits}
    text = "\n\n".join(table(s, r) for s, r in results.items())
    print(json.dumps(results, indent=2, sort_keys=True, allow_nan=False) if args.json else text)
    if args.record:
        from benchmarks import results as bench_results
        bench_results.append_section(f"""## PII and secret redaction: precision and recall per kind (benchmarks/pii_eval.py) — {bench_results.today()}

Command: `python -m benchmarks.pii_eval --split {args.split}`. Set: `tests/pipelines/redact/data/pii_eval_{{dev,test}}.jsonl`
from `python tests/pipelines/redact/data/generate_eval.py` (seeded; dev = seed 1, the half the guards were built
against; test = seed 2, held out). A found span is a true positive when it overlaps a gold span of its kind;
every other found span (look-alikes included) is a false positive; "fully covered": every character of the
gold span replaced.

{text}""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
