"""`manifest.json`: what a tokenized source holds, read by the mixer and the trainer.

A manifest is the only thing the mixer reads (never token data), so it must be
trustworthy: totals are checked against the shard list, shard paths must stay
inside the source directory, and it is written last and atomically so a reader
never sees a source whose shards are still being written.

Each shard entry may name its lengths sidecar ("lengths": relative path, checked like
"path"; tokens.shards documents the format). Manifests written before sidecars
existed omit it and stay valid: readers then compute lengths from the records.
A shard (or sidecar) listed twice is refused: it would count its documents twice.

Checksums (tokens.checksums: CRC32C, 8 hex digits): each shard entry records "bytes" and
"crc32c" of the shard and "lengths_crc32c" of its sidecar. Verification policy (TokenizedSource):
  - sidecars: always, whenever one is read (4 bytes per document, read whole anyway);
  - shards: the size on every open (a stat); the full CRC32C when a gs:// shard is fetched into
    the local cache (the bytes stream through anyway), by `TokenizedSource.verify_checksums()`, and
    by `mixer inspect --check`. Not on every local open: reading a TB corpus at each trainer start
    costs more than it protects, and every record read is decoded and range-checked anyway.
Manifests written before checksums are accepted with a warning (nothing to verify; re-tokenize
to add them): refusing them would force re-tokenizing whole corpora for no new information.

"heldout" (optional) lists a second set of shards holding the source's held-out documents (chosen by id
hash in pipelines.tokenize). They are not counted in "documents"/"tokens" and not in "shards", so the mixer
and the training loader never see them; evaluation opens them with `Manifest.heldout_manifest()`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import posixpath
from typing import Any

from tokens import paths

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


_LOG = logging.getLogger(__name__)
_CRC_HEX = "0123456789abcdef"
_OPTIONAL = ("lengths", "bytes", "crc32c", "lengths_crc32c")   # shard fields older manifests omit


class ManifestError(ValueError):
    """A manifest that cannot be trusted; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class Shard:
    path: str        # relative to the manifest's directory
    documents: int
    tokens: int
    lengths: str | None = None   # sidecar of per-record token counts, relative; None in older manifests
    bytes: int | None = None     # shard size; None in manifests written before checksums
    crc32c: str | None = None    # shard CRC32C (tokens.checksums); None likewise
    lengths_crc32c: str | None = None   # sidecar CRC32C; None likewise


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
        return paths.join_each(self.location, [s.path for s in self.shards])

    @property
    def checksummed(self) -> bool:
        """Every shard (and every sidecar it names) has a recorded checksum."""
        return all(s.crc32c is not None and s.bytes is not None and (s.lengths is None or s.lengths_crc32c)
                   for s in self.shards)

    @property
    def lengths_paths(self) -> list[str | None]:
        """Full lengths-sidecar paths in shard order; None for a shard whose entry names none."""
        return [None if s.lengths is None else paths.join(self.location, s.lengths) for s in self.shards]

    def to_json(self) -> str:
        body = dataclasses.asdict(self)
        body.pop("location")

        def entries(shards):
            return [{k: v for k, v in dataclasses.asdict(s).items() if not (k in _OPTIONAL and v is None)}
                    for s in shards]

        body["shards"] = entries(self.shards)
        if self.heldout:
            body["heldout"] = entries(self.heldout)
        else:
            body.pop("heldout")
            body.pop("heldout_rule")
        return json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"


def reject_json_constant(name: str):
    """json.loads hook: NaN and Infinity are not JSON; Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not a JSON value")


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


def _plain_shards(raw_shards: list) -> list[Shard] | None:
    """Every shard entry checked in bulk (100,000 shards in ~0.1 s, not ~0.6 s one by one);
    None when any entry fails or needs a closer look, so the per-entry loop decides and names it."""
    if not all(type(r) is dict for r in raw_shards):
        return None
    get = dict.get
    rel = [get(r, "path") for r in raw_shards]
    docs = [get(r, "documents") for r in raw_shards]
    toks = [get(r, "tokens") for r in raw_shards]
    lengths = [get(r, "lengths") for r in raw_shards]
    sizes = [get(r, "bytes") for r in raw_shards]
    crcs = [get(r, "crc32c") for r in raw_shards]
    lcrcs = [get(r, "lengths_crc32c") for r in raw_shards]
    named = [p for p in lengths if p is not None]
    if len(named) != sum("lengths" in r for r in raw_shards):   # "lengths": null is not a path
        return None
    if not (all(type(d) is int and d >= 0 for d in docs) and all(type(t) is int for t in toks)
            and all(t >= d for t, d in zip(toks, docs))
            and all(b is None or (type(b) is int and b >= 0) for b in sizes)):
        return None
    given = [c for c in crcs + lcrcs if c is not None]
    if not all(type(c) is str and len(c) == 8 for c in given) or set("".join(given)) - set(_CRC_HEX):
        return None
    if any(c is not None and n is None for c, n in zip(lcrcs, lengths)):
        return None
    for group in (rel, named):
        if not all(type(p) is str and p for p in group):
            return None
        joined = "\x00".join(group)    # NUL is no '/', ':' or '.', so no hit spans two paths
        if ("://" in joined or ":" in joined or ".." in joined or "\x00/" in joined or joined.startswith("/")
                or "\\" in joined or "//" in joined or "./" in joined or "/\x00" in joined or joined.endswith("/")
                or "/.\x00" in joined or joined.endswith("/.")):
            return None   # rare: the per-entry check decides (it normalises names, allows ':' and '..' inside)
    if len(set(rel) | set(named)) != len(rel) + len(named):
        return None   # a file listed twice: the per-entry check names it
    return list(map(Shard, rel, docs, toks, lengths, sizes, crcs, lcrcs))


def parse_manifest(text: str, where: str, location: str = "") -> Manifest:
    """Validate a manifest's schema and totals; raise ManifestError naming `where`."""
    try:
        body = json.loads(text, parse_constant=reject_json_constant)
    except (json.JSONDecodeError, ValueError) as e:
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


def _parse_shards(entries: Any, where: str, bulk: bool = True) -> list[Shard]:
    if not isinstance(entries, list):
        raise ManifestError(f"{where} must be a list")
    fast = _plain_shards(entries) if bulk else None
    if fast is not None:
        return fast
    shards, seen = [], {}
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
        size = _optional(raw, "bytes", int, sw)
        if size is not None and size < 0:
            raise ManifestError(f"{sw}: bytes must be >= 0")
        crcs = [_crc(raw, key, sw) for key in ("crc32c", "lengths_crc32c")]
        if crcs[1] is not None and "lengths" not in raw:
            raise ManifestError(f"{sw}: lengths_crc32c without a lengths sidecar")
        for name in (raw["path"], raw.get("lengths")):
            key = name and posixpath.normpath(name.replace("\\", "/"))
            if key is None:
                continue
            if key in seen:   # the same file twice would count its documents twice
                raise ManifestError(f"{sw}: {name!r} is already listed by {seen[key]}; a shard may appear once")
            seen[key] = sw
        shards.append(Shard(raw["path"], docs, toks, raw.get("lengths"), size, *crcs))
    return shards


def _optional(body: dict, key: str, kind: type, where: str) -> Any:
    return None if body.get(key) is None else _require(body, key, kind, where)


def _crc(body: dict, key: str, where: str) -> str | None:
    value = _optional(body, key, str, where)
    if value is not None and (len(value) != 8 or any(c not in _CRC_HEX for c in value)):
        raise ManifestError(f"{where}: {key} {value!r} is not 8 lowercase hex digits")
    return value


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


def fingerprint(manifest: Manifest) -> dict[str, Any]:
    """What a mixture records of each manifest it was built from (mixture.json sources.<name>.fingerprint).

    Tokenizer, config hash, totals, the shard count, a SHA-256 over every shard entry (relative name, size,
    counts, shard and sidecar checksums) and each shard's CRC32C (to name the rewritten ones): about 20 bytes
    per shard, so a 100,000-shard source adds ~2 MB. Location-free (names are relative), so the same data
    copied elsewhere keeps its fingerprint; a re-tokenization into the same folder does not."""
    table = [[s.path, s.bytes, s.documents, s.tokens, s.crc32c, s.lengths_crc32c] for s in manifest.shards]
    return {"tokenizer_sha256": manifest.tokenizer_sha256, "config_hash": manifest.config_hash,
            "documents": manifest.documents, "tokens": manifest.tokens, "shard_count": len(table),
            "shards_sha256": hashlib.sha256(json.dumps(table, separators=(",", ":"), allow_nan=False).encode())
            .hexdigest(), "crc32c": [s.crc32c for s in manifest.shards]}


def fingerprint_changes(recorded: dict[str, Any], current: dict[str, Any], names: list[str] | None = None,
                        limit: int = 3) -> list[str]:
    """Human-readable differences between a recorded fingerprint and a manifest's current one ([] = same);
    `names`: the manifest's shard names, to say which shards were rewritten."""
    changes = []
    for key, what in (("tokenizer_sha256", "tokenizer sha256"), ("config_hash", "tokenize config hash")):
        if recorded.get(key) != current.get(key):
            changes.append(f"{what} {str(recorded.get(key))[:12]} -> {str(current.get(key))[:12]}")
    for key in ("documents", "tokens", "shard_count"):
        if recorded.get(key) != current.get(key):
            changes.append(f"{key.replace('_', ' ')} {recorded.get(key)} -> {current.get(key)}")
    old, new = recorded.get("crc32c") or [], current.get("crc32c") or []
    if len(old) == len(new):
        rewritten = [(names[i] if names and i < len(names) else f"shard {i}")
                     for i, (a, b) in enumerate(zip(old, new)) if a != b]
        if rewritten:
            more = f" and {len(rewritten) - limit} more" if len(rewritten) > limit else ""
            changes.append(f"shards rewritten: {', '.join(rewritten[:limit])}{more}")
    if not changes and recorded.get("shards_sha256") != current.get("shards_sha256"):
        changes.append("shard entries differ (names, sizes or counts)")
    return changes
