"""Resolve stages against manifests into mixture.json dicts, refusing what cannot be honoured.

Reads manifests only (never token data). Everything is checked for every stage before the
caller writes anything, so a refusal leaves no partial MIX directory behind.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from mixer import mixture as mixture_lib
from mixer.budget import format_tokens
from mixer.shares import MixSpec, PlanError, allocate, float_weights, resolve_shares
from mixer.presets import schedule_for
from tokens import completion, paths
from tokens.manifest import fingerprint

REPEAT_WARNING_EPOCHS = 4.0   # data-constrained scaling (Muennighoff et al. 2023): returns fade past ~4 epochs


class BuildError(ValueError):
    """A mixture the build refuses to write; the message says what and why."""


@dataclasses.dataclass(frozen=True)
class StageRequest:
    name: str                  # mixture name (and, in a recipe, the stage directory)
    stage: str                 # pretrain | continue | cooldown
    tokens: int
    spec: MixSpec
    init_from: str | None = None   # previous stage's directory name (recipes) or None
    seed: int = 0
    stage_dir: str = ""            # directory under MIX/ in a recipe ("" = single stage, MIX/mixture.json)


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    data: str                  # TOKENS root, as given
    seq_len: int = 8192
    max_epochs: float = 4.0
    allow_repeat: bool = False
    command: str = ""


def manifest_path(data: str, source: str) -> str:
    return paths.join(data, source, "manifest.json")


def load_manifests(data: str, sources: list[str]) -> dict:
    """Manifests that exist under DATA for `sources` (missing ones are simply absent)."""
    from tokens.manifest import ManifestError, load_manifest

    found = {}
    for source in sorted(set(sources)):
        path = manifest_path(data, source)
        if not paths.exists(path):
            continue
        try:
            found[source] = load_manifest(path)
        except ManifestError as e:
            raise BuildError(f"source {source!r}: {e}") from None
        if found[source].source != source:
            raise BuildError(f"{path}: manifest says source {found[source].source!r}, directory says {source!r}")
        gaps = completion.manifest_gaps(found[source])
        if gaps:
            more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
            raise BuildError(f"{path} does not cover its shards: {', '.join(gaps[:3])}{more}; rerun "
                             f"pipelines.tokenize for {source!r} (a tokenize run killed or still running leaves "
                             "no manifest; a manifest whose shards are gone cannot be mixed)")
    return found


def check_tokenizers(manifests: Mapping) -> None:
    """All used manifests must come from one tokenizer; the error names both sides."""
    items = sorted(manifests.items())
    for name, m in items[1:]:
        first_name, first = items[0]
        if (m.tokenizer_sha256, m.vocab_size) != (first.tokenizer_sha256, first.vocab_size):
            raise BuildError(
                f"manifests come from different tokenizers: {first_name!r} (sha256 {first.tokenizer_sha256[:12]}, "
                f"vocab {first.vocab_size}) and {name!r} (sha256 {m.tokenizer_sha256[:12]}, vocab {m.vocab_size}); "
                "re-tokenize so every source uses one tokenizer")


def build_stage(request: StageRequest, manifests: Mapping, options: BuildOptions) -> dict:
    """One stage's mixture dict (validated). Raises BuildError on any refusal."""
    available = {name: m.tokens for name, m in manifests.items()}
    try:
        shares = resolve_shares(request.spec, available)
    except PlanError as e:
        raise BuildError(str(e)) from None
    for name, share in sorted(shares.items()):
        if name not in manifests:
            raise BuildError(f"source {name!r} is requested ({float(share) * 100:.4g}% of {request.name}) but "
                             f"{manifest_path(options.data, name)} does not exist")
        if manifests[name].tokens <= 0 or manifests[name].documents <= 0:
            raise BuildError(f"source {name!r} is requested ({float(share) * 100:.4g}% of {request.name}) but its "
                             "manifest has zero tokens")
    used = {name: manifests[name] for name in shares}
    check_tokenizers(used)
    targets = allocate(request.tokens, shares)
    weights = float_weights(shares)
    warnings, sources = [], {}
    for name in sorted(shares):
        m = used[name]
        epochs = targets[name] / m.tokens
        if epochs > options.max_epochs and not options.allow_repeat:
            raise BuildError(f"source {name!r} would repeat {epochs:.2f} epochs in {request.name} "
                             f"({format_tokens(targets[name])} target, {format_tokens(m.tokens)} available), over "
                             f"--max-epochs {options.max_epochs:g}; add data, lower the share or pass --allow-repeat")
        if epochs > REPEAT_WARNING_EPOCHS:
            warnings.append(f"source {name!r} repeats {epochs:.2f} epochs in {request.name} (> "
                            f"{REPEAT_WARNING_EPOCHS:g}: repeated data is worth less, data-constrained scaling)")
        sources[name] = {"weight": weights[name], "target_tokens": targets[name], "available_tokens": m.tokens,
                         "documents": m.documents, "epochs": round(epochs, 6),
                         "manifest": manifest_path(options.data, name), "shards": m.shard_paths,
                         "fingerprint": fingerprint(m)}
    first = next(iter(used.values()))
    body = {"format_version": mixture_lib.FORMAT_VERSION, "name": request.name, "stage": request.stage,
            "init_from": request.init_from, "schedule": schedule_for(request.stage),
            "total_tokens": request.tokens, "seq_len": options.seq_len, "seed": request.seed,
            "tokenizer_sha256": first.tokenizer_sha256, "vocab_size": first.vocab_size,
            "command": options.command, "max_epochs": options.max_epochs, "warnings": warnings,
            "sources": sources}
    mixture_lib.validate_mixture(body, f"<{request.name}>")
    problems = mixture_lib.budget_problems(body)
    if problems:   # allocate() guarantees this; a failure here is a bug, never a mixture to publish
        raise BuildError(f"{request.name}: " + "; ".join(problems))
    return body


def build_all(requests: list[StageRequest], options: BuildOptions) -> list[dict]:
    """Every stage of a recipe, checked together (one tokenizer across stages, epochs over the recipe)."""
    wanted = [s for r in requests for s in r.spec.candidate_sources()]
    manifests = load_manifests(options.data, wanted)
    mixtures = [build_stage(r, manifests, options) for r in requests]
    check_tokenizers({name: manifests[name] for m in mixtures for name in m["sources"]})
    if len(mixtures) > 1:
        seen: dict[str, int] = {}
        for m in mixtures:
            for name, entry in m["sources"].items():
                seen[name] = seen.get(name, 0) + entry["target_tokens"]
        for name, total in sorted(seen.items()):
            epochs = total / manifests[name].tokens
            if epochs > REPEAT_WARNING_EPOCHS:
                note = (f"source {name!r} repeats {epochs:.2f} epochs over the whole recipe (> "
                        f"{REPEAT_WARNING_EPOCHS:g}; each stage alone may be below)")
                mixtures[-1]["warnings"].append(note)
    return mixtures


def recipe(name: str, requests: list[StageRequest], mixtures: list[dict], command: str,
           description: str = "") -> dict:
    """recipe.json: the stages in training order, each with its mixture path, init_from and schedule."""
    return {"format_version": 1, "name": name, "description": description, "command": command,
            "stages": [{"name": r.stage_dir, "mixture": f"{r.stage_dir}/{mixture_lib.MIXTURE_NAME}",
                        "stage": m["stage"], "init_from": m["init_from"], "schedule": m["schedule"],
                        "total_tokens": m["total_tokens"]}
                       for r, m in zip(requests, mixtures)]}
