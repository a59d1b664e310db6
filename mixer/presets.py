"""The paper's Table 2 (docs/paper.md, "Recipes") as whole recipes: ordered stages, each a budget and a mix.

Budgets are the paper's (470M runs). `--tokens T` with a preset scales every stage by the
same factor so the recipe totals T (largest-remainder rounding keeps the sum exact), so a
demo on the sample corpus runs the same shape at e.g. 2M tokens.

Stage-2 ("continue") rows keep 10% code, as the paper does on purpose. Every recipe ends
with the 40B cooldown (+32B text, +8B code in Table 2); balanced-synth-to-text's cooldown
cell is blank in the table and we follow "as balanced->text". Inside the cooldown's 80%
non-code part the paper up-weights high-quality text, math and instruction data without
giving weights: ours (documented defaults, not the paper's) are text 0.50, math 0.15,
instruct 0.15, code 0.20.

Schedules: cosine with 1325 warmup steps (the paper's) for pretrain; the continue stage
starts from the previous checkpoint after its cosine has decayed, and we re-warm for the
same 1325 steps (our choice; the paper does not say) so the LR rises smoothly instead of
jumping to its peak; the cooldown anneals linearly to 1e-6 (the paper's) with no warmup.
"""
from __future__ import annotations

import dataclasses

from mixer.shares import MixSpec, allocate

B = 10**9
WARMUP_STEPS = 1325
COOLDOWN_FINAL_LR = 1e-6
COOLDOWN_WEIGHTS = (("code", 0.20), ("instruct", 0.15), ("math", 0.15), ("text", 0.50))
SWEEP = (0, 25, 50, 75, 90, 100)


def schedule_for(stage: str) -> dict:
    """The LR schedule a stage trains with (see module docstring for why)."""
    if stage == "cooldown":
        return {"kind": "linear", "warmup_steps": 0, "final_lr": COOLDOWN_FINAL_LR}
    return {"kind": "cosine", "warmup_steps": WARMUP_STEPS}


@dataclasses.dataclass(frozen=True)
class PresetStage:
    name: str          # directory name under MIX/ and the value later stages put in init_from
    stage: str         # pretrain | continue | cooldown
    tokens: int        # the paper's budget for this stage
    spec: MixSpec


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    stages: tuple[PresetStage, ...]

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.stages)

    def budgets(self, total: int | None = None) -> list[int]:
        """Per-stage budgets; with `total`, every stage scaled so the recipe sums to `total` exactly."""
        if total is None:
            return [s.tokens for s in self.stages]
        from fractions import Fraction

        shares = {f"{i:03d}": Fraction(s.tokens, self.tokens) for i, s in enumerate(self.stages)}
        alloc = allocate(total, shares)
        return [alloc[f"{i:03d}"] for i in range(len(self.stages))]


COOLDOWN = PresetStage("cooldown", "cooldown", 40 * B, MixSpec(weights=COOLDOWN_WEIGHTS))
CONTINUE_TO_TEXT = PresetStage("continue", "continue", 200 * B, MixSpec(code=10))


def _preset(name: str, description: str, *stages: PresetStage) -> Preset:
    return Preset(name, description, tuple(stages))


PRESETS: dict[str, Preset] = {p.name: p for p in [
    _preset("text-only", "400B text, then cooldown (Table 2 row 1)",
            PresetStage("pretrain", "pretrain", 400 * B, MixSpec(code=0)), COOLDOWN),
    _preset("balanced-only", "200B text + 200B code, then cooldown",
            PresetStage("pretrain", "pretrain", 400 * B, MixSpec(code=50)), COOLDOWN),
    _preset("balanced-to-text", "100B text + 100B code; continue +180B text +20B code; cooldown",
            PresetStage("pretrain", "pretrain", 200 * B, MixSpec(code=50)), CONTINUE_TO_TEXT, COOLDOWN),
    _preset("code-to-text", "200B code (80% web code, 20% markup); continue +180B/+20B; cooldown",
            PresetStage("pretrain", "pretrain", 200 * B, MixSpec(code=100, markup=20)), CONTINUE_TO_TEXT,
            COOLDOWN),
    _preset("balanced-synth-to-text", "balanced with 10% synthetic inside the code share; then as "
            "balanced-to-text", PresetStage("pretrain", "pretrain", 200 * B, MixSpec(code=50, synth=10)),
            CONTINUE_TO_TEXT, COOLDOWN),
    *[_preset(f"code-{p}", f"code-proportion sweep: {p}% code, {100 - p}% text, 200B from scratch",
              PresetStage("pretrain", "pretrain", 200 * B, MixSpec(code=p))) for p in SWEEP],
    _preset("cooldown", "40B: 20% code; text 0.50 / math 0.15 / instruct 0.15 (weights ours, not the paper's)",
            COOLDOWN),
]}
