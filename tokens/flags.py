"""Numeric command-line flags: every CLI of the project parses its float flags with `finite_float`.

`float("nan")` parses, and a NaN then disables the checks it reaches without a word (`nan > 4` is
False, so `mixer build --max-epochs nan` stopped refusing over-repeated sources) and lands in JSON
files as the non-standard token NaN. Infinity does the same in the other direction. Refused at the
command line, with argparse's usage error (exit code 2). Lives here, in the bottom layer, because
pipelines, mixer and trainer all take float flags and all import `tokens`.
"""
from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """argparse type: a float that is neither NaN nor infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
