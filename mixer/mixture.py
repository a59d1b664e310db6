"""mixture.json: the token-budgeted recipe one training stage reads (schema in docs/contracts).

The file is plain JSON so the trainer, `mixer inspect` and people read the same thing:
stage, schedule, budget, tokenizer, and per source its weight (token share), target and
available tokens, documents, epochs, manifest, full shard paths and the fingerprint of the
manifest it was built from (tokens.manifest.fingerprint: shard names, sizes, counts, checksums,
tokenizer); the trainer and `mixer inspect --check` refuse data whose manifest no longer matches. `load_mixture`
validates everything the trainer relies on, so a hand-edited or stale mixture fails here
with a message naming the file and field instead of deep inside a training run.
MaxText's mixture file ({name: {"path": glob, "weight": w}}) is derived from it.

Locations: `mixer build` records a local manifest and its shards relative to the mixture file's directory
("../tokens/code/manifest.json"), and `load_mixture` resolves relative paths against that directory, so a
mixture keeps working from any working directory and after its folder (mixture and tokens together) is
copied elsewhere or to gs://. A relative path that exists only from the working directory (mixtures written
before this rule) is still honoured.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import posixpath
from typing import Any

from tokens import paths
from tokens.manifest import reject_json_constant

FORMAT_VERSION = 1
MIXTURE_NAME = "mixture.json"
MAXTEXT_NAME = "maxtext_mixture.json"
RECIPE_NAME = "recipe.json"
STAGES = ("pretrain", "continue", "cooldown")
SCHEDULES = ("cosine", "linear")
WEIGHT_TOLERANCE = 1e-9
# The largest budget a mixture may state: 1e15 tokens, ~300x the largest public code-model runs (a few T).
# A larger count is a typo or an edit (1e30 trains "forever" with a schedule of nonsense steps).
MAX_TOTAL_TOKENS = 10**15
SHARD_GLOB = "part-*.array_record"


class MixtureError(ValueError):
    """A mixture that cannot be trusted; the message names the file and the field."""


def _field(body: dict, key: str, kind: type | tuple, where: str, optional: bool = False) -> Any:
    if key not in body:
        if optional:
            return None
        raise MixtureError(f"{where}: missing field {key!r}")
    value = body[key]
    bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
    if bad_bool or not isinstance(value, kind):
        raise MixtureError(f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def _validate_source(name: str, entry: Any, where: str) -> None:
    sw = f"{where}: sources[{name!r}]"
    if not isinstance(entry, dict):
        raise MixtureError(f"{sw} must be an object")
    weight = _field(entry, "weight", (int, float), sw)
    if not math.isfinite(weight) or weight < 0:
        raise MixtureError(f"{sw}: weight {weight} must be finite and >= 0")
    for key in ("target_tokens", "available_tokens", "documents"):
        if _field(entry, key, int, sw) < 0:
            raise MixtureError(f"{sw}: {key} must be >= 0")
    if weight > 0 and (entry["documents"] <= 0 or entry["available_tokens"] <= 0):
        raise MixtureError(f"{sw}: weight {weight} but no documents/tokens available")
    epochs = _field(entry, "epochs", (int, float), sw)
    if not math.isfinite(epochs) or epochs < 0:
        raise MixtureError(f"{sw}: epochs {epochs} must be finite and >= 0")
    _field(entry, "manifest", str, sw)
    shards = _field(entry, "shards", list, sw)
    if not shards or not all(isinstance(s, str) and s for s in shards):
        raise MixtureError(f"{sw}: shards must be a non-empty list of paths")
    fingerprint = _field(entry, "fingerprint", dict, sw, optional=True)   # absent in older mixtures
    if fingerprint is not None:
        _field(fingerprint, "shards_sha256", str, f"{sw}: fingerprint")
        crcs = _field(fingerprint, "crc32c", list, f"{sw}: fingerprint")
        if _field(fingerprint, "shard_count", int, f"{sw}: fingerprint") != len(shards) or len(crcs) != len(shards):
            raise MixtureError(f"{sw}: fingerprint must describe the {len(shards)} shards listed")


def validate_mixture(body: Any, where: str = "<mixture>", check_shards: bool = False) -> dict:
    """Check schema, stage, schedule and that weights sum to 1 (within 1e-9); returns `body`."""
    if not isinstance(body, dict):
        raise MixtureError(f"{where}: top level must be an object")
    version = _field(body, "format_version", int, where)
    if version != FORMAT_VERSION:
        raise MixtureError(f"{where}: format_version {version} (expected {FORMAT_VERSION})")
    if not _field(body, "name", str, where):
        raise MixtureError(f"{where}: name must not be empty")
    if _field(body, "stage", str, where) not in STAGES:
        raise MixtureError(f"{where}: stage {body['stage']!r} not in {STAGES}")
    if body.get("init_from") is not None and not isinstance(body["init_from"], str):
        raise MixtureError(f"{where}: init_from must be null or a stage name")
    init_from = body.get("init_from")
    # The trainer joins init_from to the run directory's parent: a path here ("../x", "/abs", "a/b")
    # would load weights from wherever the file says, so only a bare stage name is accepted.
    if init_from is not None and (not init_from or init_from in (".", "..") or "/" in init_from
                                  or "\\" in init_from or ":" in init_from):
        raise MixtureError(f"{where}: init_from {init_from!r} must be a stage name, not a path")
    schedule = _field(body, "schedule", dict, where)
    if schedule.get("kind") not in SCHEDULES:
        raise MixtureError(f"{where}: schedule.kind {schedule.get('kind')!r} not in {SCHEDULES}")
    if _field(schedule, "warmup_steps", int, f"{where}: schedule") < 0:
        raise MixtureError(f"{where}: schedule.warmup_steps must be >= 0")
    if schedule["kind"] == "linear":
        _field(schedule, "final_lr", (int, float), f"{where}: schedule")
    for key in ("total_tokens", "seq_len", "vocab_size"):
        if _field(body, key, int, where) <= 0:
            raise MixtureError(f"{where}: {key} must be > 0")
    if body["total_tokens"] > MAX_TOTAL_TOKENS:
        raise MixtureError(f"{where}: total_tokens {body['total_tokens']:.3g} is over {MAX_TOTAL_TOKENS:.0e} "
                           "(a typo? budgets are counts of tokens: 200B = 2e11)")
    _field(body, "seed", int, where)
    _field(body, "tokenizer_sha256", str, where)
    _field(body, "command", str, where)
    max_epochs = _field(body, "max_epochs", (int, float), where, optional=True)
    if max_epochs is not None and not (math.isfinite(max_epochs) and max_epochs > 0):
        raise MixtureError(f"{where}: max_epochs must be a finite number > 0")
    warnings = _field(body, "warnings", list, where, optional=True)
    if warnings is not None and not all(isinstance(w, str) for w in warnings):
        raise MixtureError(f"{where}: warnings must be a list of strings")
    sources = _field(body, "sources", dict, where)
    if not sources:
        raise MixtureError(f"{where}: sources is empty")
    for name, entry in sources.items():
        _validate_source(name, entry, where)
    total = math.fsum(float(e["weight"]) for e in sources.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise MixtureError(f"{where}: weights sum to {total!r}, not 1 (tolerance {WEIGHT_TOLERANCE})")
    if check_shards:
        missing = missing_shards(body)
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise MixtureError(f"{where}: {len(missing)} shard(s) missing: {', '.join(missing[:3])}{more}")
    return body


def budget_problems(mixture: dict) -> list[str]:
    """Targets that disagree with the weights and the total (a hand-edited mixture.json; [] = consistent).

    mixer build allocates total_tokens by weight (largest remainder), so each target is within one token of
    weight x total and the targets sum to the total."""
    total, problems = mixture["total_tokens"], []
    targets = {name: e["target_tokens"] for name, e in mixture["sources"].items()}
    if sum(targets.values()) != total:
        problems.append(f"targets sum to {sum(targets.values())} tokens, total_tokens is {total}")
    for name, entry in sorted(mixture["sources"].items()):
        expected = float(entry["weight"]) * total
        if abs(entry["target_tokens"] - expected) > 1 + WEIGHT_TOLERANCE * total:
            problems.append(f"{name}: target_tokens {entry['target_tokens']} but weight {entry['weight']:.6g} x "
                            f"total {total} = {expected:.0f}")
    return problems


def missing_shards(mixture: dict) -> list[str]:
    """Shard paths named by the mixture that do not exist (one listing per directory on gs://)."""
    missing = []
    listed: dict[str, set[str]] = {}
    for entry in mixture["sources"].values():
        for path in entry["shards"]:
            if "://" not in path:
                if not os.path.isfile(path):
                    missing.append(path)
                continue
            parent = paths.dirname(path)
            if parent not in listed:
                listed[parent] = {paths.join(parent, name) for name in paths.list_dir(parent)}
            if path not in listed[parent]:
                missing.append(path)
    return missing


def _against(base: str, relative: str) -> str:
    """`relative` joined to directory `base` with '..' folded (local or gs://)."""
    if paths.is_remote(base):
        scheme, rest = base.split("://", 1)
        return f"{scheme}://" + posixpath.normpath(posixpath.join(rest, relative))
    return os.path.normpath(os.path.join(base, relative))


def resolve_locations(body: Any, mixture_path: str) -> Any:
    """`body` with every relative manifest and shard path resolved against the mixture file's directory."""
    if not isinstance(body, dict) or not isinstance(body.get("sources"), dict):
        return body
    base = paths.dirname(mixture_path) or "."

    def resolve(value):
        if not isinstance(value, str) or not value or "://" in value or os.path.isabs(value):
            return value
        here = _against(base, value)
        if paths.is_remote(here) or os.path.exists(here) or not os.path.exists(value):
            return here
        return value   # written relative to the working directory by an older mixer

    sources = {}
    for name, entry in body["sources"].items():
        if isinstance(entry, dict):
            entry = dict(entry)
            if "manifest" in entry:
                entry["manifest"] = resolve(entry["manifest"])
            if isinstance(entry.get("shards"), list):
                entry["shards"] = [resolve(s) for s in entry["shards"]]
        sources[name] = entry
    return {**body, "sources": sources}


def relative_locations(mixture: dict, directory: str) -> dict:
    """The mixture as written to DIRECTORY: local manifest and shard paths relative to it (both local)."""
    if paths.is_remote(directory):
        return mixture
    here = os.path.abspath(directory)

    def rel(value: str) -> str:
        return value if "://" in value else os.path.relpath(os.path.abspath(value), here)

    return {**mixture, "sources": {name: {**e, "manifest": rel(e["manifest"]), "shards": [rel(s) for s in e["shards"]]}
                                   for name, e in mixture["sources"].items()}}


def load_mixture(path: str, check_shards: bool = True) -> dict:
    """Read and validate a mixture.json (local or gs://); shard existence is checked by default."""
    try:
        text = paths.read_bytes(path).decode("utf-8")
    except Exception as e:  # missing file, permissions, object-store errors
        raise MixtureError(f"{path}: cannot read mixture ({type(e).__name__}: {e})") from None
    try:
        body = json.loads(text, parse_constant=reject_json_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise MixtureError(f"{path}: not valid JSON ({e})") from None
    return validate_mixture(resolve_locations(body, path), path, check_shards=check_shards)



def to_json(body: Any) -> str:
    """Canonical text: sorted keys, 2-space indent, trailing newline (same input, same bytes)."""
    return json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"


# Not part of a mixture's identity: the command line, and where the shards live (a copy of the data
# moved to gs:// is the same mixture, so a run resumes on it).
HASH_EXCLUDED_TOP = ("command",)
HASH_EXCLUDED_SOURCE = ("manifest", "shards", "path")


def mixture_hash(mixture: dict) -> str:
    """SHA-256 of what a stage trains on: the mixture without its command line and data locations.

    The one identity of a mixture: the trainer records it in checkpoints and refuses to resume on another."""
    body = {k: v for k, v in mixture.items() if k not in HASH_EXCLUDED_TOP and k != "sources"}
    body["sources"] = {name: {k: v for k, v in spec.items() if k not in HASH_EXCLUDED_SOURCE}
                       for name, spec in sorted(mixture["sources"].items())}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


def source_dir(entry: dict) -> str:
    manifest = entry["manifest"]
    if manifest.endswith(".json"):
        return manifest.rsplit("/", 1)[0] if "/" in manifest else "."
    return manifest.rstrip("/")


def maxtext_mixture(mixture: dict) -> dict:
    """MaxText's `grain_train_mixture_config_path` file: {name: {"path": shard glob, "weight": w}}."""
    return {name: {"path": posixpath.join(source_dir(e), SHARD_GLOB) if "://" not in e["manifest"]
                   else source_dir(e) + "/" + SHARD_GLOB,
                   "weight": e["weight"]}
            for name, e in sorted(mixture["sources"].items()) if e["weight"] > 0}


def mixture_files(directory: str, mixture: dict) -> dict[str, bytes]:
    """Validated: DIR/maxtext_mixture.json, then DIR/mixture.json (the file readers look for, last)."""
    validate_mixture(mixture, "<mixture being written>")
    return {paths.join(directory, MAXTEXT_NAME): to_json(maxtext_mixture(mixture)).encode("utf-8"),
            paths.join(directory, MIXTURE_NAME): to_json(relative_locations(mixture, directory)).encode("utf-8")}


def write_mixture(directory: str, mixture: dict) -> str:
    """Validate, then write DIR/mixture.json and DIR/maxtext_mixture.json, both or neither (a full disk
    leaves the previous pair as it was); returns the mixture path."""
    paths.write_all_atomic(mixture_files(directory, mixture))
    return paths.join(directory, MIXTURE_NAME)


def write_json(path: str, body: Any) -> str:
    paths.write_atomic(path, to_json(body).encode("utf-8"))
    return path
