"""A Stack Exchange Posts.xml of any size from the sample's real threads, written as a stream.

Thread i copies base thread i mod B (B = the complete threads of data/sample/stackexchange)
with new Ids, one inserted sentence naming i in the question and in each answer, and a
"(variant i)" title suffix: every thread is unique, same-base threads are near duplicates.
Rows keep the dump's layout (one `<row .../>` per line, attributes escaped as the dumps
escape them, `&#xA;` for newlines). Answers are written DELAY threads after their question,
as real dumps interleave them by Id, so a thread's rows fall into different byte ranges.
Same (bytes, seed, mutate) -> same file; memory stays flat whatever the size.

`--mutate F` replaces each word (3+ letters, outside tags and entities) of every title and body with
probability F by a word drawn from the sample's own vocabulary: at 0.3 almost every word 5-gram
changes, so threads stop being near duplicates of their base (as in a real dump, where few are);
at 0 (default) same-base threads stay near duplicates (a dedup-heavy corpus).

    python -m benchmarks.posts_corpus --output /tmp/se/site.example.com/Posts.xml --bytes 2G
"""
from __future__ import annotations

import argparse
import collections
import functools
import glob
import os
import random
import re
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "sample", "stackexchange")
DELAY = 200            # answers follow their question by this many threads
HEADER = b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
FOOTER = b"</posts>\n"
_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xA;",
                         "\r": "&#xD;", "\t": "&#x9;"})
_WORD = re.compile(r"(?<![&#\w])[A-Za-z]{3,}(?![\w;])")
_TAG = re.compile(r"(<[^>]*>)")
_SENTENCE = "<p>Checked again for variant {i}: the answer still holds on run {a} with {b} examples.</p>"


@functools.lru_cache(maxsize=1)
def base_threads(root: str = SAMPLE) -> tuple[tuple[dict, tuple[dict, ...]], ...]:
    """(question attrs, answers attrs) of every sample question with at least one answer."""
    threads = []
    for path in sorted(glob.glob(os.path.join(root, "*", "Posts.xml"))):
        rows = [dict(r.attrib) for r in ET.parse(path).getroot()]
        answers = collections.defaultdict(list)
        for r in rows:
            if r.get("PostTypeId") == "2":
                answers[r.get("ParentId")].append(r)
        threads += [(q, tuple(answers[q["Id"]])) for q in rows
                    if q.get("PostTypeId") == "1" and answers.get(q["Id"])]
    if not threads:
        raise SystemExit(f"no threads under {root}")
    return tuple(threads)


@functools.lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Every word (3+ letters) of the sample threads' bodies, sorted: what --mutate draws from."""
    words = set()
    for question, answers in base_threads():
        for row in (question, *answers):
            for part in _TAG.split(row.get("Body", "")):
                if not part.startswith("<"):
                    words.update(_WORD.findall(part))
    return tuple(sorted(words))


def mutated(text: str, rnd: random.Random, rate: float) -> str:
    """`text` with each word outside tags replaced, with probability `rate`, by a vocabulary word."""
    if rate <= 0:
        return text
    vocab = vocabulary()

    def swap(m: re.Match) -> str:
        return vocab[rnd.randrange(len(vocab))] if rnd.random() < rate else m.group(0)
    return "".join(part if part.startswith("<") else _WORD.sub(swap, part) for part in _TAG.split(text))


def _row(attrs: dict) -> bytes:
    body = " ".join(f'{k}="{str(v).translate(_ESCAPE)}"' for k, v in attrs.items())
    return f"  <row {body} />\n".encode("utf-8")


def thread_rows(i: int, next_id: int, seed: int = 0, mutate: float = 0.0) -> tuple[bytes, bytes, int]:
    """(question line, answer lines, ids used) of thread i, Ids from next_id on."""
    question, answers = base_threads()[i % len(base_threads())]
    rnd = random.Random(seed * 1_000_003 + i)
    qid = next_id
    ids = {a["Id"]: str(qid + 1 + k) for k, a in enumerate(answers)}
    q = dict(question, Id=str(qid), Title=f"{mutated(question.get('Title', ''), rnd, mutate)} (variant {i})",
             Body=mutated(question.get("Body", ""), rnd, mutate)
             + _SENTENCE.format(i=i, a=rnd.randrange(1000), b=rnd.randrange(100)))
    if q.get("AcceptedAnswerId") in ids:
        q["AcceptedAnswerId"] = ids[q["AcceptedAnswerId"]]
    else:
        q.pop("AcceptedAnswerId", None)
    lines = b"".join(_row(dict(a, Id=ids[a["Id"]], ParentId=str(qid),
                                   Body=mutated(a.get("Body", ""), rnd, mutate) + _SENTENCE.format(i=i, a=rnd.randrange(1000),
                                                                             b=rnd.randrange(100))))
                     for a in answers)
    return _row(q), lines, 1 + len(answers)


def write_posts(path: str, target_bytes: int, seed: int = 0, mutate: float = 0.0) -> dict:
    """Write at least `target_bytes` of Posts.xml to `path` (atomically); returns rows and threads."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    pending: collections.deque[bytes] = collections.deque()
    written, threads, rows, next_id = len(HEADER), 0, 0, 1
    with open(tmp, "wb") as f:
        f.write(HEADER)
        while written < target_bytes - len(FOOTER):
            question, answers, used = thread_rows(threads, next_id, seed, mutate)
            next_id += used
            rows += used
            threads += 1
            f.write(question)
            written += len(question)
            pending.append(answers)
            if len(pending) > DELAY:
                block = pending.popleft()
                f.write(block)
                written += len(block)
        for block in pending:
            f.write(block)
            written += len(block)
        f.write(FOOTER)
    os.replace(tmp, path)
    return {"path": path, "bytes": os.path.getsize(path), "rows": rows, "threads": threads}


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.posts_corpus", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True, help="Posts.xml path to write (its folder name is the site)")
    ap.add_argument("--bytes", default="20M", help="target file size in bytes (suffix K/M/G, binary)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the per-thread numbers")
    ap.add_argument("--mutate", type=float, default=0.0,
                    help="probability (0-1) that each word of a title or body is replaced by a sample word "
                         "(0: same-base threads stay near duplicates; 0.3: few near duplicates)")
    args = ap.parse_args(argv)
    print(write_posts(args.output, parse_size(args.bytes), args.seed, args.mutate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
