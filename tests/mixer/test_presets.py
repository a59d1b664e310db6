"""Every preset against the paper's Table 2 (docs/paper.md, "Recipes") (token counts per stage), built from manifests."""
import json
import os

import pytest

from mixer.build import BuildOptions, StageRequest, build_all
from mixer.presets import COOLDOWN_WEIGHTS, PRESETS, WARMUP_STEPS
from tests.mixer.fixtures import run_mixer, write_manifests

B = 10**9
COOLDOWN = {"text": 20 * B, "math": 6 * B, "instruct": 6 * B, "code": 8 * B}   # +32B "text" side, +8B code
CONTINUE = {"text": 180 * B, "code": 20 * B}
TABLE_2 = {   # stage -> per-source target tokens (docs/paper.md, "Recipes")
    "text-only": [{"text": 400 * B}, COOLDOWN],
    "balanced-only": [{"text": 200 * B, "code": 200 * B}, COOLDOWN],
    "balanced-to-text": [{"text": 100 * B, "code": 100 * B}, CONTINUE, COOLDOWN],
    "code-to-text": [{"code": 160 * B, "markup": 40 * B}, CONTINUE, COOLDOWN],
    "balanced-synth-to-text": [{"text": 100 * B, "code": 90 * B, "synthetic": 10 * B}, CONTINUE, COOLDOWN],
    **{f"code-{p}": [{k: v for k, v in (("text", (100 - p) * 2 * B), ("code", p * 2 * B)) if v}]
       for p in (0, 25, 50, 75, 90, 100)},
    "cooldown": [COOLDOWN],
}
TEXT_SIDE, CODE_SIDE = {"text", "math", "instruct"}, {"code", "markup", "synthetic"}


@pytest.fixture(scope="module")
def big_tokens(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tokens"))
    return write_manifests(root, {s: (10**6, 10**12) for s in ("text", "code", "markup", "synthetic", "math",
                                                                 "instruct")})


def _requests(preset, total=None):
    stages, budgets, previous, out = PRESETS[preset].stages, PRESETS[preset].budgets(total), None, []
    for i, (stage, tokens) in enumerate(zip(stages, budgets)):
        out.append(StageRequest(name=f"{preset}-{stage.name}", stage=stage.stage, tokens=tokens, spec=stage.spec,
                                init_from=previous, seed=i, stage_dir=stage.name))
        previous = stage.name
    return out


def test_every_preset_is_tested():
    assert set(TABLE_2) == set(PRESETS)


@pytest.mark.parametrize("preset", sorted(TABLE_2))
def test_preset_matches_table_2(preset, big_tokens):
    mixtures = build_all(_requests(preset), BuildOptions(data=big_tokens))
    assert [{n: e["target_tokens"] for n, e in m["sources"].items()} for m in mixtures] == TABLE_2[preset]
    for m in mixtures:
        code = sum(e["target_tokens"] for n, e in m["sources"].items() if n in CODE_SIDE)
        text = sum(e["target_tokens"] for n, e in m["sources"].items() if n in TEXT_SIDE)
        assert code + text == m["total_tokens"]
        if m["stage"] == "cooldown":     # Table 2: +32B text, +8B code
            assert (text, code) == (32 * B, 8 * B)
            assert m["schedule"] == {"kind": "linear", "warmup_steps": 0, "final_lr": 1e-6}
        else:
            assert m["schedule"] == {"kind": "cosine", "warmup_steps": WARMUP_STEPS}
    assert [m["init_from"] for m in mixtures] == [None] + [s.name for s in PRESETS[preset].stages[:-1]]


def test_cooldown_weights_are_the_documented_defaults():
    assert dict(COOLDOWN_WEIGHTS) == {"text": 0.5, "math": 0.15, "instruct": 0.15, "code": 0.2}


@pytest.mark.parametrize("preset", ["balanced-to-text", "code-to-text", "text-only"])
def test_tokens_scales_every_stage_proportionally(preset, big_tokens):
    full = build_all(_requests(preset), BuildOptions(data=big_tokens))
    small = build_all(_requests(preset, 2_000_000), BuildOptions(data=big_tokens))
    assert sum(m["total_tokens"] for m in small) == 2_000_000
    recipe_total = sum(m["total_tokens"] for m in full)
    for f, s in zip(full, small):
        assert abs(s["total_tokens"] - f["total_tokens"] * 2_000_000 / recipe_total) <= 1
        assert {n: e["weight"] for n, e in s["sources"].items()} == {n: e["weight"] for n, e in f["sources"].items()}


def test_multi_stage_preset_cli_writes_recipe(tmp_path, big_tokens):
    out = tmp_path / "MIX"
    result = run_mixer("build", "--preset", "balanced-to-text", "--data", big_tokens, "--tokens", "2M",
                       "--output", str(out))
    assert result.returncode == 0, result.stderr
    recipe = json.loads((out / "recipe.json").read_text())
    assert [s["name"] for s in recipe["stages"]] == ["pretrain", "continue", "cooldown"]
    assert [s["init_from"] for s in recipe["stages"]] == [None, "pretrain", "continue"]
    for stage in recipe["stages"]:
        mixture = json.loads((out / stage["mixture"]).read_text())
        assert mixture["stage"] == stage["stage"] and mixture["init_from"] == stage["init_from"]
        assert os.path.exists(out / stage["name"] / "maxtext_mixture.json")
    assert sum(s["total_tokens"] for s in recipe["stages"]) == 2_000_000
    assert "--preset balanced-to-text" in recipe["command"]
