"""`manifest.json`: what a tokenized source holds, read by the mixer and the trainer.

A manifest is the only thing the mixer reads (never token data), so it must be
trustworthy: totals are checked against the shard list, shard paths must stay
inside the source directory, and it is written last and atomically so a reader
never sees a source whose shards are still being written.

Each shard entry may name its lengths sidecar ("lengths": relative path, checked like
"path"; tokens.shards documents the format). Manifests written before sidecars
existed omit it and stay valid: readers then compute lengths from the records.

"heldout" (optional) lists a second set of shards holding the source's held-out documents (chosen by id
hash in pipelines.tokenize). They are not counted in "documents"/"tokens" and not in "shards", so the mixer
and the training loader never see them; evaluation opens them with `Manifest.heldout_manifest()`.
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
    heldout: tuple[Shard, ...] = ()    # held-out shards, outside the totals above (absent = no split)
    heldout_rule: dict[str, Any] = dataclasses.field(default_factory=dict)  # fraction, min_documents, key

    def heldout_manifest(self) -> "Manifest":
        """The held-out shards as a manifest of their own (same source, tokenizer and location)."""
        return dataclasses.replace(self, shards=self.heldout, documents=sum(s.documents for s in self.heldout),
                                   tokens=sum(s.tokens for s in self.heldout), heldout=(), heldout_rule={})

    @property
    def tokenizer_sha256(self) -> str:
        return self.tokenizer["sha256"]

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer["vocab_size"])

    @property
    def shard_paths(self) -> list[str]:
        """Full shard paths (local or gs://), in shard order."""
        return [paths.join(self.location, s.path) for s in self.shards]

    @property
    def lengths_paths(self) -> list[str | None]:
        """Full lengths-sidecar paths in shard order; None for a shard whose entry names none."""
        return [None if s.lengths is None else paths.join(self.location, s.lengths) for s in self.shards]

    def to_json(self) -> str:
        body = dataclasses.asdict(self)
        body.pop("location")

        def entries(shards):
            return [{k: v for k, v in dataclasses.asdict(s).items() if not (k == "lengths" and v is None)}
                    for s in shards]

        body["shards"] = entries(self.shards)
        if self.heldout:
            body["heldout"] = entries(self.heldout)
        else:
            body.pop("heldout")
            body.pop("heldout_rule")
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
    shards = _parse_shards(_require(body, "shards", list, where), f"{where}: shards")
    heldout = _parse_shards(body.get("heldout") or [], f"{where}: heldout")
    if {s.path for s in heldout} & {s.path for s in shards}:
        raise ManifestError(f"{where}: a shard is listed both as training and as held-out data")
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
        created_by=str(body.get("created_by", "")), location=location, format_version=version,
        heldout=tuple(heldout), heldout_rule=dict(body.get("heldout_rule") or {}))


def _parse_shards(entries: Any, where: str) -> list[Shard]:
    if not isinstance(entries, list):
        raise ManifestError(f"{where} must be a list")
    shards = []
    for i, raw in enumerate(entries):
        sw = f"{where}[{i}]"
        if not isinstance(raw, dict):
            raise ManifestError(f"{sw} must be an object")
        _check_relative(raw.get("path"), sw)
        if "lengths" in raw:
            _check_relative(raw["lengths"], sw, "lengths path")
        docs, toks = _require(raw, "documents", int, sw), _require(raw, "tokens", int, sw)
        if docs < 0 or toks < 0 or toks < docs:
            raise ManifestError(f"{sw}: impossible counts documents={docs} tokens={toks}")
        shards.append(Shard(raw["path"], docs, toks, raw.get("lengths")))
    return shards


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
