"""Source tags and their role in mixtures: the facts both the Beam side and the mixer need.

A source tag names one kind of curated data (`kept/<tag>/`, `tokens/<tag>/manifest.json`, a key of a
mixture's "sources"). Its role says what the mixer's `--code/--synth/--markup/--adjacent` arithmetic
does with it and which side of the code/text split it counts on (evals' code share):

  text           gets what `--code P` leaves (100 - P %)
  code           web code: the code share, less what --synth/--markup/--adjacent take from it
  markup         the `--markup M` percent of the code share
  code-adjacent  the `--adjacent A` percent of the code share, split by available tokens
  synthetic      the `--synth S` percent of the code share
  cooldown       only reached through explicit weights (the cooldown stage's --weights)

When a role has several tags, its share is split over them by available tokens (as code-adjacent always is).

This module is pure data (no Beam, no JAX) so `mixer` can import it; how a tag is read, filtered and
verified is declared by the family that produces it (pipelines/sources/__init__.py). Adding a tag is one
line in TAGS below (or `register(name, role)` at runtime, e.g. in a test).
"""
from __future__ import annotations

TEXT, CODE, MARKUP, ADJACENT, SYNTHETIC, COOLDOWN = ("text", "code", "markup", "code-adjacent", "synthetic",
                                                     "cooldown")
ROLES = (TEXT, CODE, MARKUP, ADJACENT, SYNTHETIC, COOLDOWN)
# Roles on the code side of the paper's code/text split (evals' code_share; the mixer's --code share).
CODE_ROLES = frozenset({CODE, MARKUP, ADJACENT, SYNTHETIC})

# tag -> role, in the order reports list them.
TAGS: dict[str, str] = {
    "text": TEXT,
    "code": CODE,
    "markup": MARKUP,
    "commits": ADJACENT,
    "notebooks": ADJACENT,
    "stackexchange": ADJACENT,
    "synthetic": SYNTHETIC,
    "math": COOLDOWN,
    "instruct": COOLDOWN,
}


def register(name: str, role: str) -> None:
    """Declare a source tag (idempotent for the same role; a different role for a known tag is refused)."""
    if role not in ROLES:
        raise ValueError(f"source tag {name!r}: role {role!r} is not one of {', '.join(ROLES)}")
    if not name or "/" in name or name != name.strip():
        raise ValueError(f"source tag {name!r}: must be a non-empty folder name without '/'")
    if TAGS.get(name, role) != role:
        raise ValueError(f"source tag {name!r} is already declared with role {TAGS[name]!r}")
    TAGS[name] = role


def unregister(name: str) -> None:
    """Forget a tag declared with `register` (tests clean up with this)."""
    TAGS.pop(name, None)


def names() -> tuple[str, ...]:
    """Every declared tag, in declaration order."""
    return tuple(TAGS)


def role_of(name: str) -> str:
    if name not in TAGS:
        raise KeyError(f"unknown source tag {name!r}; known: {', '.join(TAGS)}")
    return TAGS[name]


def with_role(*roles: str) -> tuple[str, ...]:
    """Tags whose role is one of `roles`, in declaration order."""
    return tuple(name for name, role in TAGS.items() if role in roles)


def code_side() -> tuple[str, ...]:
    """Tags that count as code in a mixture's code share."""
    return with_role(*CODE_ROLES)
