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


# ---------------------------------------------------------------- strict command lines

def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every --flag of `parser` and of its subcommands."""
    found = []
    for action in parser._actions:
        found += [s for s in action.option_strings if s.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return sorted(set(found))


def _chosen_flags(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> list[str]:
    """The flags of `parser` and of the subcommand the command line chose (all subcommands' if none)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
            found += _chosen_flags(chosen, parsed) if chosen else _option_strings(parser)
        else:
            found += [s for s in action.option_strings if s.startswith("--")]
    return sorted(set(found))


def did_you_mean(flag: str, known: list[str]) -> str:
    """' (did you mean --threshold?)' for the closest known flag, or '' when none is close."""
    import difflib

    name = flag.split("=", 1)[0]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_flag_message(unknown: list[str], known: list[str]) -> str:
    flags = [a for a in unknown if a.startswith("-")] or unknown
    return "unrecognized arguments: " + " ".join(unknown) + "".join(did_you_mean(f, known) for f in flags[:1])


class StrictArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that refuses an unknown flag (exit 2) with a "did you mean" hint, and never takes a
    prefix of a flag for the flag (--thresh is not --threshold): a typo must never run a job with defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error(unknown_flag_message(unknown, _chosen_flags(self, parsed)))
        return parsed

    def reject_unknown(self, unknown: list[str], extra_known: list[str] = ()) -> None:
        """usage error (exit 2) naming `unknown`, with the closest of this parser's flags and `extra_known`."""
        if unknown:
            self.error(unknown_flag_message(unknown, sorted(set(_option_strings(self)) | set(extra_known))))
