"""Fixture data for mixer tests: contract manifests (empty shard files) and a tiny real tokenized corpus."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHA = hashlib.sha256(b"mixer-test-tokenizer").hexdigest()


def write_manifest(root: str, source: str, documents: int, tokens: int, sha: str = SHA, vocab: int = 512,
                   shards: int = 2) -> str:
    """TOKENS/<source>/manifest.json in the contract schema (shards listed, written empty)."""
    out = os.path.join(root, source)
    os.makedirs(out, exist_ok=True)
    docs = [documents // shards + (i < documents % shards) for i in range(shards)]
    toks = [tokens // shards + (i < tokens % shards) for i in range(shards)]
    body = {"format_version": 1, "source": source,
            "tokenizer": {"sha256": sha, "vocab_size": vocab, "eos_id": 2, "pad_id": 0, "path": "tok"},
            "shards": [{"path": f"part-{i:05d}-of-{shards:05d}.array_record", "documents": d, "tokens": t}
                       for i, (d, t) in enumerate(zip(docs, toks))],
            "documents": documents, "tokens": tokens,
            "length_histogram": {"min": 1, "median": tokens // max(documents, 1), "p99": 4000, "max": 9000},
            "config_hash": "test", "code_version": "test", "created_by": "tests/mixer"}
    for shard in body["shards"]:   # empty stand-ins: the mixer checks a manifest covers its shards
        open(os.path.join(out, shard["path"]), "ab").close()
    path = os.path.join(out, "manifest.json")
    with open(path, "w") as f:
        json.dump(body, f)
    return path


# (documents, tokens) per source: enough for every small-budget build below without repeats.
SMALL = {"text": (1000, 600_000), "code": (800, 400_000), "synthetic": (100, 20_000), "markup": (200, 90_000),
         "commits": (50, 30_000), "notebooks": (40, 10_000), "stackexchange": (60, 60_000),
         "math": (30, 20_000), "instruct": (30, 15_000)}


def write_manifests(root: str, sizes: dict | None = None, **kw) -> str:
    for source, (documents, tokens) in (SMALL if sizes is None else sizes).items():
        write_manifest(root, source, documents, tokens, **kw)
    return root


def run_mixer(*args: str) -> subprocess.CompletedProcess:
    """`python -m mixer ARGS` in this process (fast); same argv handling as the real entry point."""
    import contextlib
    import io

    from mixer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:          # argparse --help / usage errors
            code = e.code if isinstance(e.code, int) else 2
    return subprocess.CompletedProcess(["python", "-m", "mixer", *args], code, out.getvalue(), err.getvalue())


def run_mixer_subprocess(*args: str) -> subprocess.CompletedProcess:
    """The real `python -m mixer` in a child process (end-to-end checks)."""
    return subprocess.run([sys.executable, "-m", "mixer", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


TEXTS = {
    "text": ["the river runs past the old mill and the children watch the boats",
             "a quiet morning in the village square with bread and coffee",
             "history books describe the long winter of the northern towns"],
    "code": ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i * i)\n",
             "class Stack:\n    def push(self, x):\n        self.items.append(x)\n"],
}


def write_corpus(root: str, documents: int = 12) -> tuple[str, str]:
    """A real tokenized corpus: TOK/tokenizer.model (SentencePiece BPE) + TOKENS/<source>/ shards + manifests."""
    import sentencepiece as spm
    from array_record.python.array_record_module import ArrayRecordWriter
    from tokens.manifest import Manifest, Shard, write_manifest as write_real_manifest
    from tokens.records import encode_example

    tok = os.path.join(root, "TOK")
    os.makedirs(tok, exist_ok=True)
    lines = [t for texts in TEXTS.values() for t in texts for _ in range(20)]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=os.path.join(tok, "tokenizer"),
                                   vocab_size=120, model_type="bpe", eos_id=2, pad_id=0, unk_id=1, bos_id=-1,
                                   minloglevel=2)
    model = os.path.join(tok, "tokenizer.model")
    sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
    processor = spm.SentencePieceProcessor(model_file=model)
    for source, texts in TEXTS.items():
        out = os.path.join(root, "TOKENS", source)
        os.makedirs(out, exist_ok=True)
        docs = [processor.encode(f"{texts[i % len(texts)]} #{i}") + [2] for i in range(documents)]
        shards = []
        for s, part in enumerate((docs[: documents // 2], docs[documents // 2:])):
            name = f"part-{s:05d}-of-00002.array_record"
            writer = ArrayRecordWriter(os.path.join(out, name), "group_size:1")
            for doc in part:
                writer.write(encode_example(doc, source))
            writer.close()
            shards.append(Shard(name, len(part), sum(len(d) for d in part)))
        write_real_manifest(out, Manifest(
            source=source, tokenizer={"sha256": sha, "vocab_size": 120, "eos_id": 2, "pad_id": 0, "path": model},
            shards=tuple(shards), documents=len(docs), tokens=sum(len(d) for d in docs),
            length_histogram={"min": 1, "median": 10, "p99": 20, "max": 30}, config_hash="t", code_version="t"))
    return os.path.join(root, "TOKENS"), model
