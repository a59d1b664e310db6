"""A tiny curated corpus in the curate job's output schema, built from real files.

Code, markup and prose come from files installed in the venv (real Python, CSS,
Markdown, licence text); every source also gets the hard cases for byte-exact
round trips: tabs, runs of spaces, trailing whitespace, CRLF, unicode, emoji, a
literal U+2581, control characters and a line longer than SentencePiece's limit.
"""
from __future__ import annotations

import glob
import hashlib
import os
import sysconfig

import pyarrow as pa
import pyarrow.parquet as pq

SITE = sysconfig.get_paths()["purelib"]
HARD_CASES = [
    "def f(x):\n\tif x:\n\t\treturn x  \r\n\r\n    else:   \n        return None\t\n",
    "naïve café — 日本語のテキスト 😀🚀 ∑ x² ≠ y\u00a0z\u200b end",
    "literal \u2581 piece marker \u2581\u2581 and  two  spaces\n\n\n\nfour newlines",
    "ctrl \x00\x01\x7f bell\x07 form\x0c feed\x0b vtab \r lone CR",
    "x" * 20000 + "\n" + "é" * 9000,      # lines longer than max_sentence_length (bytes)
    "   leading spaces and trailing newline\n",
    "",
    "1234567890 3.14159 0xDEADBEEF 2024-08-19",
]
FILES = {
    "code": ("apache_beam/io/*.py", "apache_beam/transforms/*.py"),
    "markup": ("matplotlib/**/*.css", "orbax/**/*.md", "numpy/**/*.rst"),
    "text": ("*.dist-info/LICENSE*", "*.dist-info/licenses/LICENSE*"),
}


def _doc_id(source: str, name: str) -> str:
    return hashlib.sha256(f"{source}\x00{name}".encode()).hexdigest()[:24]


def documents(per_source: int = 25, max_chars: int = 12000) -> dict[str, list[dict]]:
    """source -> rows {id, source, text, meta}; deterministic (sorted file lists)."""
    out = {}
    for source, patterns in FILES.items():
        paths = sorted({p for pat in patterns for p in glob.glob(os.path.join(SITE, pat), recursive=True)})
        rows = []
        for path in paths[:per_source]:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()[:max_chars]
            rel = os.path.relpath(path, SITE)
            rows.append({"id": _doc_id(source, rel), "source": source, "text": text, "meta": f'{{"path": "{rel}"}}'})
        for i, text in enumerate(HARD_CASES):
            rows.append({"id": _doc_id(source, f"hard-{i}"), "source": source, "text": text, "meta": "{}"})
        out[source] = rows
    return out


def write_curated(root: str, per_source: int = 25, shards: int = 2) -> dict[str, list[dict]]:
    """CURATED/kept/<source>/part-NNNNN-of-MMMMM.parquet, as the curate job writes them."""
    docs = documents(per_source)
    for source, rows in docs.items():
        directory = os.path.join(root, "kept", source)
        os.makedirs(directory, exist_ok=True)
        for s in range(shards):
            part = rows[s::shards]
            table = pa.table({k: pa.array([r[k] for r in part], pa.string()) for k in ("id", "source", "text", "meta")})
            pq.write_table(table, os.path.join(directory, f"part-{s:05d}-of-{shards:05d}.parquet"))
    publish_completion(root)
    return docs


def publish_completion(root: str) -> dict:
    """CURATED/_COMPLETE.json listing every kept shard under `root`, as a finished curate run writes it."""
    from tokens import completion
    files = {}
    for source in sorted(os.listdir(os.path.join(root, "kept"))):
        for name in sorted(os.listdir(os.path.join(root, "kept", source))):
            if name.endswith(".parquet"):
                files[f"kept/{source}/{name}"] = pq.read_metadata(os.path.join(root, "kept", source, name)).num_rows
    return completion.write_record(root, "curate", files, {"sources": sorted(os.listdir(os.path.join(root, "kept"))),
                                                           "ok": True})


def train_tokenizer(docs: dict, vocab: int = 700) -> bytes:
    """A small real SentencePiece model trained on `docs` (as write_curated returns them)."""
    import tempfile

    from pipelines import train_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        sample = os.path.join(tmp, "sample.txt")
        with open(sample, "w", encoding="utf-8", errors="surrogatepass") as f:
            for rows in docs.values():
                for row in rows:
                    for line in train_tokenizer.training_lines(row["text"], 16384):
                        f.write(line + "\n")
        return train_tokenizer.train(sample, train_tokenizer.TokenizerConfig(vocab_size=vocab))
