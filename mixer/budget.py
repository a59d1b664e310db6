"""Token budgets as people write them: 200B, 40B, 2.5M, 1e9 (decimal suffixes, as in the paper)."""
from __future__ import annotations

import math
import re

SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMBT]?)\s*$", re.IGNORECASE)


def parse_tokens(text: str) -> int:
    """'200B' -> 200_000_000_000. Suffixes K/M/B/T are decimal (200B = 200e9); must be a positive whole count."""
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"token count {text!r}: expected a number with an optional K/M/B/T suffix, e.g. 200B")
    number, suffix = match.groups()
    multiplier = SUFFIXES[suffix.upper()]
    # Decimal arithmetic on the digits avoids float error: "2.3B" is exactly 2_300_000_000.
    if "e" in number.lower():
        value = float(number) * multiplier
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"token count {text!r} is not a whole number of tokens")
        count = int(value)
    else:
        whole, _, frac = number.partition(".")
        scaled = int(whole or "0") * multiplier * 10**len(frac) + int(frac or "0") * multiplier
        count, rest = divmod(scaled, 10**len(frac))
        if rest:
            raise ValueError(f"token count {text!r} is not a whole number of tokens")
    if count <= 0:
        raise ValueError(f"token count {text!r} must be positive")
    return count


def format_tokens(count: float) -> str:
    """Short human form: 200000000000 -> '200B', 2500000 -> '2.5M', 812 -> '812'."""
    for suffix in ("T", "B", "M", "K"):
        unit = SUFFIXES[suffix]
        if abs(count) >= unit:
            return f"{count / unit:.4g}{suffix}"
    return f"{count:.4g}"
