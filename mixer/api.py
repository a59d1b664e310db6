"""The mixer as a library: build a recipe, load a recipe's stages, check that a mixture is still fresh.

`python -m mixer` (mixer/cli.py) is a thin layer over these functions; evals' sweep and the trainer call
them directly. A recipe is MIX/recipe.json (a multi-stage preset: one MIX/<stage>/mixture.json per stage)
or a single MIX/mixture.json; either path loads the same way.
"""
from __future__ import annotations

import dataclasses
import json

from mixer import mixture as mixture_lib
from mixer.build import BuildError, BuildOptions, StageRequest, build_all, recipe
from mixer.presets import PRESETS
from mixer.shares import PlanError
from tokens import paths
from tokens.manifest import reject_json_constant

__all__ = ["BuildError", "BuildOptions", "BuiltRecipe", "PlanError", "StageRequest", "build_recipe",
           "check_mixture", "load_stages", "preset_requests", "recipe_path", "stage_paths", "stale_message",
           "unverifiable"]


@dataclasses.dataclass(frozen=True)
class BuiltRecipe:
    name: str
    requests: tuple[StageRequest, ...]
    mixtures: tuple[dict, ...]
    plan: dict | None     # recipe.json's content (multi-stage recipes), else None
    path: str | None      # what was written last (recipe.json or mixture.json); None when not written


def preset_requests(preset: str, tokens: int | None = None, seed: int = 0, name: str | None = None
                    ) -> tuple[list[StageRequest], str, str]:
    """(stage requests, recipe name, description) of a preset; `tokens` scales the whole recipe to that total,
    stage i samples with seed + i."""
    if preset not in PRESETS:
        raise PlanError(f"unknown preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    chosen = PRESETS[preset]
    name = name or chosen.name
    budgets = chosen.budgets(tokens)
    multi = len(chosen.stages) > 1
    requests, previous = [], None
    for i, (stage, budget) in enumerate(zip(chosen.stages, budgets)):
        requests.append(StageRequest(name=f"{name}-{stage.name}" if multi else name, stage=stage.stage,
                                     tokens=budget, spec=stage.spec, init_from=previous, seed=seed + i,
                                     stage_dir=stage.name if multi else ""))
        previous = stage.name
    return requests, name, chosen.description


def build_recipe(requests: list[StageRequest], options: BuildOptions, name: str, description: str = "",
                 output: str | None = None) -> BuiltRecipe:
    """Resolve every stage against the manifests and, with `output`, write all stages' files or none
    (a full disk never leaves a recipe with some stages rebuilt). Raises BuildError/PlanError on a refusal,
    OSError when writing fails."""
    if options.seq_len <= 0 or options.max_epochs <= 0:
        raise PlanError("--seq-len and --max-epochs must be positive")
    mixtures = build_all(requests, options)
    multi = len(mixtures) > 1
    plan = recipe(name, requests, mixtures, options.command, description) if multi else None
    if output is None:
        return BuiltRecipe(name, tuple(requests), tuple(mixtures), plan, None)
    files: dict[str, bytes] = {}
    for r, m in zip(requests, mixtures):
        files.update(mixture_lib.mixture_files(paths.join(output, r.stage_dir) if multi else output, m))
    path = paths.join(output, mixture_lib.RECIPE_NAME if multi else mixture_lib.MIXTURE_NAME)
    if multi:
        files[path] = mixture_lib.to_json(plan).encode("utf-8")
    paths.write_all_atomic(files)
    return BuiltRecipe(name, tuple(requests), tuple(mixtures), plan, path)


def recipe_path(mix_dir: str) -> str:
    """MIX/recipe.json when MIX holds a multi-stage recipe, else MIX/mixture.json."""
    multi = paths.join(mix_dir, mixture_lib.RECIPE_NAME)
    return multi if paths.exists(multi) else paths.join(mix_dir, mixture_lib.MIXTURE_NAME)


def _read(path: str):
    with paths.open_read(path) as f:
        return json.loads(f.read().decode("utf-8"), parse_constant=reject_json_constant)


def stage_paths(path: str) -> list[tuple[str, str]]:
    """[(stage name, mixture.json path)] in training order, for a recipe.json or a single mixture.json."""
    body = _read(path)
    if isinstance(body, dict) and "stages" in body and "sources" not in body:
        base = paths.dirname(path)
        return [(stage["name"], paths.join(base, stage["mixture"]) if base else stage["mixture"])
                for stage in body["stages"]]
    return [(body.get("stage", "stage") if isinstance(body, dict) else "stage", path)]


def load_stages(path: str, check_shards: bool = False) -> list[tuple[str, dict]]:
    """[(stage name, mixture)] for a mixture.json (one stage) or a recipe.json (its stages in order)."""
    body = _read(path)
    if isinstance(body, dict) and "stages" in body and "sources" not in body:
        return [(name, mixture_lib.load_mixture(mixture, check_shards=check_shards))
                for name, mixture in stage_paths(path)]
    return [(body.get("stage", "stage") if isinstance(body, dict) else "stage",
             mixture_lib.validate_mixture(mixture_lib.resolve_locations(body, path), path,
                                          check_shards=check_shards))]


def check_mixture(mixture: dict, verify_tokens: bool = False) -> list[str]:
    """Problems found comparing the mixture with each source's manifest and shards ([] = all good).

    The manifest must still match the fingerprint the mixture recorded (a re-tokenized source is
    reported with what changed). Record counts come from tokens.source.TokenizedSource (it opens every
    shard and compares its record count and size with the manifest); every shard and sidecar is read
    whole against its CRC32C; verify_tokens also decodes every record.
    """
    from tokens.manifest import ManifestError, fingerprint, fingerprint_changes, load_manifest
    from tokens.records import CorruptRecordError
    from tokens.source import TokenizedSource

    problems = mixture_lib.budget_problems(mixture)
    for name, entry in sorted(mixture["sources"].items()):
        try:
            manifest = load_manifest(entry["manifest"])
        except ManifestError as e:
            problems.append(f"{name}: {e}")
            continue
        if manifest.vocab_size != mixture["vocab_size"]:
            problems.append(f"{name}: the manifest's tokenizer has {manifest.vocab_size} tokens, the mixture says "
                            f"vocab_size {mixture['vocab_size']}: token ids would fall outside the model's "
                            "embedding table")
        if "fingerprint" in entry:
            changes = fingerprint_changes(entry["fingerprint"], fingerprint(manifest),
                                          [s.path for s in manifest.shards])
            if changes:
                problems.append(stale_message(mixture, name, entry["manifest"], changes))
        if manifest.shard_paths != entry["shards"]:
            problems.append(f"{name}: the manifest's shard list differs from the mixture's "
                            f"({len(manifest.shard_paths)} vs {len(entry['shards'])} shards)")
        for key, have in (("documents", manifest.documents), ("available_tokens", manifest.tokens)):
            if have != entry[key]:
                problems.append(f"{name}: {key} is {have} in the manifest, {entry[key]} in the mixture")
        if manifest.tokenizer_sha256 != mixture["tokenizer_sha256"]:
            problems.append(f"{name}: tokenizer sha256 {manifest.tokenizer_sha256[:12]} differs from the "
                            f"mixture's {mixture['tokenizer_sha256'][:12]}")
        try:
            with TokenizedSource.open(entry["manifest"], verify=True) as source:
                source.verify_checksums()
                if verify_tokens:
                    source.verify_tokens()
        except (ManifestError, CorruptRecordError) as e:
            problems.append(f"{name}: {e}")
    return problems


def stale_message(mixture: dict, name: str, manifest_path: str, changes: list[str]) -> str:
    """Why a mixture no longer describes its data, and the command that rebuilds it."""
    return (f"{name}: {manifest_path} changed since mixture {mixture.get('name')!r} was built ("
            + "; ".join(changes) + "): it would train on different data than it says. Rebuild the mixture: "
            + (mixture.get("command") or "python -m mixer build ..."))


def unverifiable(mixture: dict) -> list[str]:
    """Sources the mixture cannot vouch for: built before fingerprints were recorded."""
    return sorted(name for name, entry in mixture["sources"].items() if "fingerprint" not in entry)
