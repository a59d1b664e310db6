"""`manifest.json`: what a tokenized source holds, read by the mixer and the trainer.

A manifest is the only thing the mixer reads (never token data), so it must be
trustworthy: totals are checked against the shard list, shard paths must stay
inside the source directory, and it is written last and atomically so a reader
never sees a source whose shards are still being written.

Each shard entry may name its lengths sidecar ("lengths": relative path, checked like
"path"; tokens.shards documents the format). Manifests written before sidecars
existed omit it and stay valid: readers then compute lengths from the records.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from tokens import paths

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


class ManifestError(ValueError):
    """A manifest that cannot be trusted; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class Shard:
    path: str        # relative to the manifest's directory
    documents: int
    tokens: int
    lengths: str | None = None   # sidecar of per-record token counts, relative; None in older manifests


@dataclasses.dataclass(frozen=True)
class Manifest:
    source: str
    tokenizer: dict[str, Any]          # sha256, vocab_size, eos_id, pad_id, path
    shards: tuple[Shard, ...]
    documents: int
    tokens: int
    length_histogram: dict[str, int]   # min, median, p99, max tokens per document
    config_hash: str
    code_version: str
    created_by: str = ""
    location: str = ""                 # directory the manifest was loaded from (not serialised)
    format_version: int = FORMAT_VERSION

    @property
    def tokenizer_sha256(self) -> str:
        return self.tokenizer["sha256"]

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer["vocab_size"])

    @property
    def shard_paths(self) -> list[str]:
        """Full shard paths (local or gs://), in shard order."""
        return paths.join_each(self.location, [s.path for s in self.shards])

    @property
    def lengths_paths(self) -> list[str | None]:
        """Full lengths-sidecar paths in shard order; None for a shard whose entry names none."""
        return [None if s.lengths is None else paths.join(self.location, s.lengths) for s in self.shards]

    def to_json(self) -> str:
        body = dataclasses.asdict(self)
        body.pop("location")
        body["shards"] = [{k: v for k, v in dataclasses.asdict(s).items() if not (k == "lengths" and v is None)}
                          for s in self.shards]
        return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _check_relative(path: str, where: str, what: str = "shard path") -> None:
    if not isinstance(path, str) or not path:
        raise ManifestError(f"{where}: {what} must be a non-empty string")
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or "://" in path or ".." in parts or ":" in parts[0]:
        raise ManifestError(f"{where}: {what} {path!r} escapes the source directory")


def _require(body: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in body:
        raise ManifestError(f"{where}: missing field {key!r}")
    value = body[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def _checked_shard(raw: Any, sw: str) -> Shard:
    if not isinstance(raw, dict):
        raise ManifestError(f"{sw} must be an object")
    _check_relative(raw.get("path"), sw)
    if "lengths" in raw:
        _check_relative(raw["lengths"], sw, "lengths path")
    docs, toks = _require(raw, "documents", int, sw), _require(raw, "tokens", int, sw)
    if docs < 0 or toks < 0 or toks < docs:
        raise ManifestError(f"{sw}: impossible counts documents={docs} tokens={toks}")
    return Shard(raw["path"], docs, toks, raw.get("lengths"))


def _plain_shards(raw_shards: list) -> tuple[Shard, ...] | None:
    """Every shard entry checked in bulk (100,000 shards in ~0.1 s, not ~0.6 s one by one);
    None when any entry fails a check, so the per-entry loop reports it."""
    if not all(type(r) is dict for r in raw_shards):
        return None
    get = dict.get
    rel = [get(r, "path") for r in raw_shards]
    docs = [get(r, "documents") for r in raw_shards]
    toks = [get(r, "tokens") for r in raw_shards]
    lengths = [get(r, "lengths") for r in raw_shards]
    named = [p for p in lengths if p is not None]
    if len(named) != sum("lengths" in r for r in raw_shards):   # "lengths": null is not a path
        return None
    if not (all(type(d) is int and d >= 0 for d in docs) and all(type(t) is int for t in toks)
            and all(t >= d for t, d in zip(toks, docs))):
        return None
    for group in (rel, named):
        if not all(type(p) is str and p for p in group):
            return None
        joined = "\x00".join(group)    # NUL is no '/', ':' or '.', so no hit spans two paths
        if "://" in joined or ":" in joined or ".." in joined or "\x00/" in joined or joined.startswith("/"):
            return None   # rare: the per-entry check decides (it allows ':' and '..' inside a name)
    return tuple(map(Shard, rel, docs, toks, lengths))


def parse_manifest(text: str, where: str, location: str = "") -> Manifest:
    """Validate a manifest's schema and totals; raise ManifestError naming `where`."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise ManifestError(f"{where}: top level must be an object")
    version = _require(body, "format_version", int, where)
    if version != FORMAT_VERSION:
        raise ManifestError(f"{where}: format_version {version} (expected {FORMAT_VERSION})")
    tokenizer = _require(body, "tokenizer", dict, where)
    for key in ("sha256", "vocab_size", "eos_id"):
        if key not in tokenizer:
            raise ManifestError(f"{where}: tokenizer lacks {key!r}")
    raw_shards = _require(body, "shards", list, where)
    shards = _plain_shards(raw_shards)
    if shards is None:   # some entry fails a bulk check: the per-entry check names the first bad one
        shards = tuple(_checked_shard(raw, f"{where}: shards[{i}]") for i, raw in enumerate(raw_shards))
    documents = _require(body, "documents", int, where)
    tokens = _require(body, "tokens", int, where)
    if documents != sum(s.documents for s in shards):
        raise ManifestError(f"{where}: documents={documents} but shards sum to {sum(s.documents for s in shards)}")
    if tokens != sum(s.tokens for s in shards):
        raise ManifestError(f"{where}: tokens={tokens} but shards sum to {sum(s.tokens for s in shards)}")
    return Manifest(
        source=_require(body, "source", str, where), tokenizer=tokenizer, shards=tuple(shards),
        documents=documents, tokens=tokens,
        length_histogram=dict(body.get("length_histogram") or {}),
        config_hash=str(body.get("config_hash", "")), code_version=str(body.get("code_version", "")),
        created_by=str(body.get("created_by", "")), location=location, format_version=version)


def load_manifest(path: str) -> Manifest:
    """Read and validate `path` (a manifest.json, or the source directory holding one)."""
    if not path.endswith(".json"):
        path = paths.join(path, MANIFEST_NAME)
    try:
        text = paths.read_bytes(path).decode("utf-8")
    except (OSError, IOError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read manifest ({e})") from None
    except Exception as e:  # object-store clients raise their own error types
        raise ManifestError(f"{path}: cannot read manifest ({type(e).__name__}: {e})") from None
    return parse_manifest(text, path, location=paths.dirname(path))


def write_manifest(directory: str, manifest: Manifest) -> str:
    """Write atomically; validated first so a bad manifest is never published."""
    text = manifest.to_json()
    parse_manifest(text, "<manifest being written>")
    path = paths.join(directory, MANIFEST_NAME)
    paths.write_atomic(path, text.encode("utf-8"))
    return path
