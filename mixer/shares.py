"""Flag arithmetic: the paper's vocabulary (--code, --synth, --markup, --adjacent) -> token shares.

`--code P`: P% of the budget is code, `text` gets the rest. `--synth S`, `--markup M` and
`--adjacent A` are percentages *of the code share* taken away from web code (`code`), as in
the paper's quality ablations. So `--code 25 --synth 10` is text 75%, code 22.5%,
synthetic 2.5%. Which tags take each part is their role (tokens/sources.py). The adjacent share
splits over the code-adjacent tags (commits, notebooks, StackExchange) in proportion to their
available tokens (the paper does not give the split of its 21.4B), and so does any other role
that has more than one tag;
`--weights source=x,...` takes full control instead (values are relative and normalised).
Arithmetic is exact (fractions) so shares sum to 1 and 25/10 gives exactly 22.5/2.5.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Mapping

from tokens import sources as tags


class PlanError(ValueError):
    """Flags that cannot be honoured (shares over 100, negative, unknown adjacent sources...)."""


@dataclasses.dataclass(frozen=True)
class MixSpec:
    """What a stage asks for, before manifests are read. Percentages as given on the command line."""
    code: float | None = None      # % of the budget that is code (None: --weights mode)
    synth: float = 0.0             # % of the code share given to `synthetic`
    markup: float = 0.0            # % of the code share given to `markup`
    adjacent: float = 0.0          # % of the code share split over commits/notebooks/stackexchange
    weights: tuple[tuple[str, float], ...] = ()   # explicit (source, relative weight) pairs

    def __post_init__(self):
        if (self.code is None) == (not self.weights):
            raise PlanError("give either --code P (with --synth/--markup/--adjacent) or --weights, not both")

    def candidate_sources(self) -> tuple[str, ...]:
        """Sources whose manifests the build must look at (some may end up with share 0)."""
        if self.weights:
            return tuple(name for name, _ in self.weights)
        return tags.with_role(tags.TEXT, tags.CODE, tags.SYNTHETIC, tags.MARKUP, tags.ADJACENT)


def parse_weights(text: str) -> tuple[tuple[str, float], ...]:
    """'text=0.5,math=0.15' -> (("math", 0.15), ("text", 0.5)); refuses negatives and duplicates."""
    pairs: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise PlanError(f"--weights item {item!r}: expected source=number")
        try:
            weight = float(value)
        except ValueError:
            raise PlanError(f"--weights item {item!r}: {value!r} is not a number") from None
        if not weight >= 0 or weight == float("inf"):
            raise PlanError(f"--weights item {item!r}: weight must be a finite number >= 0")
        if name in pairs:
            raise PlanError(f"--weights names {name!r} twice")
        pairs[name] = weight
    if not pairs or sum(pairs.values()) <= 0:
        raise PlanError("--weights needs at least one source with a positive weight")
    return tuple(sorted(pairs.items()))


def _percent(value: float, flag: str) -> Fraction:
    share = Fraction(str(value))
    if share < 0:
        raise PlanError(f"{flag} {value}: a share cannot be negative")
    if share > 100:
        raise PlanError(f"{flag} {value}: a share cannot be over 100%")
    return share / 100


def resolve_shares(spec: MixSpec, available: Mapping[str, int]) -> dict[str, Fraction]:
    """Exact token shares per source (only positive ones), summing to 1.

    available: tokens per source that has a manifest; used only to split the adjacent share.
    """
    if spec.weights:
        total = sum(Fraction(str(w)) for _, w in spec.weights)
        return {name: Fraction(str(w)) / total for name, w in spec.weights if w > 0}
    code = _percent(spec.code, "--code")
    synth, markup = _percent(spec.synth, "--synth"), _percent(spec.markup, "--markup")
    adjacent = _percent(spec.adjacent, "--adjacent")
    taken = synth + markup + adjacent
    if taken > 1:
        raise PlanError(f"--synth {spec.synth} + --markup {spec.markup} + --adjacent {spec.adjacent} = "
                        f"{float(taken * 100):g}% of the code share: over 100%")
    by_role = {tags.TEXT: (1 - code, "--code"), tags.CODE: (code * (1 - taken), "--code"),
               tags.SYNTHETIC: (code * synth, "--synth"), tags.MARKUP: (code * markup, "--markup"),
               tags.ADJACENT: (code * adjacent, "--adjacent")}
    shares: dict[str, Fraction] = {}
    for role, (share, flag) in by_role.items():
        if share > 0:
            shares.update(_split(role, share, available, f"{flag} {getattr(spec, flag[2:])}"))
    return {name: share for name, share in shares.items() if share > 0}


def _split(role: str, share: Fraction, available: Mapping[str, int], flag: str) -> dict[str, Fraction]:
    """A role's share over its tags: all of it to a role's only tag (code-adjacent always splits), else in
    proportion to each tag's available tokens."""
    names = tags.with_role(role)
    if len(names) == 1 and role != tags.ADJACENT:
        return {names[0]: share}
    present = {name: available.get(name, 0) for name in names if available.get(name, 0) > 0}
    if not present:
        raise PlanError(f"{flag} needs at least one of {', '.join(names)} with tokens; none has a manifest "
                        "under --data")
    pool = sum(present.values())
    return {name: share * Fraction(tokens, pool) for name, tokens in present.items()}


def allocate(total: int, shares: Mapping[str, Fraction]) -> dict[str, int]:
    """Integer token targets that sum to `total` exactly (largest remainder, ties by name)."""
    exact = {name: share * total for name, share in shares.items()}
    floors = {name: int(value) for name, value in exact.items()}
    left = total - sum(floors.values())
    by_remainder = sorted(exact, key=lambda name: (-(exact[name] - floors[name]), name))
    for name in by_remainder[:left]:
        floors[name] += 1
    return floors


def float_weights(shares: Mapping[str, Fraction]) -> dict[str, float]:
    """Float weights for JSON; the last (largest) absorbs rounding so the sum is 1 within 1e-15."""
    weights = {name: float(share) for name, share in sorted(shares.items())}
    if weights:
        largest = max(weights, key=lambda name: (weights[name], name))
        weights[largest] = float(1 - sum(Fraction(w) for n, w in weights.items() if n != largest))
    return weights
