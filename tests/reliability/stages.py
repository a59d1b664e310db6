"""Real stage outputs for the cross-stage tests: curated Parquet -> SentencePiece -> token shards -> mixture.

Everything is produced by the project's own jobs (pipelines.tokenize, mixer build) over the small
curated sample of tests/pipelines/curated_sample.py, so a defect between stages shows up here.
"""
from __future__ import annotations

import pathlib

from tokens.manifest import load_manifest
from tests.pipelines.curated_sample import train_tokenizer, write_curated

REPO = pathlib.Path(__file__).resolve().parents[2]


def curated_and_tokenizer(root: pathlib.Path, per_source: int = 12) -> dict:
    docs = write_curated(str(root / "curated"), per_source=per_source)
    (root / "tok").mkdir(parents=True, exist_ok=True)
    (root / "tok" / "tokenizer.model").write_bytes(train_tokenizer(docs))
    return docs


def tokenize_args(root: pathlib.Path, out, num_shards: int = 3, *extra: str) -> list[str]:
    return ["--input", str(root / "curated"), "--tokenizer", str(root / "tok" / "tokenizer.model"),
            "--output", str(out), "--num-shards", str(num_shards), *extra]


def published_sources(tokens: str) -> dict[str, str]:
    """source -> problem ('' when fine) for every manifest.json under TOKENS (local or gs://).

    A published manifest must load (schema, totals, relative paths) and every shard it names must
    exist and hold exactly the documents it claims: a reader may use it the moment it exists.
    """
    from pipelines import beam_files
    from tokens import paths
    from tokens.source import TokenizedSource

    out = {}
    for path in beam_files.match(paths.join(tokens, "*", "manifest.json")):
        source = paths.basename(paths.dirname(path))
        try:
            manifest = load_manifest(path)
            src = TokenizedSource.open(path, verify=True)
            assert len(src) == manifest.documents
            out[source] = ""
        except Exception as e:  # noqa: BLE001 - the problem is the report
            out[source] = f"{type(e).__name__}: {e}"
    return out
