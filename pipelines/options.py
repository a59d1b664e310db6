"""Strict command lines for the Beam jobs: the job's own flags, plus the flags Beam declares, nothing else.

The jobs hand what they do not parse to Beam's PipelineOptions, which only logs "Discarding unparseable
args" for a word it does not know: `curate --treshold 0.9` ran with the default threshold. `split_args`
parses the job's flags and checks every remaining --flag against the options Beam's PipelineOptions
subclasses declare (`_add_argparse_args`: --runner, --project, --region, --temp_location, --setup_file,
--sdk_container_image, --direct_num_workers, ... and any subclass a runner or a test adds), so runner flags
pass through and a typo is a usage error (exit 2) naming the nearest real flag.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from tokens.flags import StrictArgumentParser


def beam_flags() -> list[str]:
    """Every --flag some PipelineOptions subclass declares (what Beam itself would parse)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, conflict_handler="resolve")
    seen, todo = set(), [PipelineOptions]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo += cls.__subclasses__()
        try:
            cls._add_argparse_args(parser)
        except (argparse.ArgumentError, TypeError, ValueError):
            continue   # a subclass that clashes with another: its flags are still Beam's to judge
    return sorted({s for action in parser._actions for s in action.option_strings if s.startswith("--")})


def split_args(parser: StrictArgumentParser, argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """(the job's flags, the Beam flags) of `argv`; exit 2 with a "did you mean" hint on any other --flag."""
    args, rest = parser.parse_known_args(argv)
    known = set(beam_flags())
    unknown = []
    for i, word in enumerate(rest):
        if word.startswith("--"):
            if word.split("=", 1)[0] not in known:
                unknown.append(word)
        elif not (i and rest[i - 1].startswith("--") and "=" not in rest[i - 1]):
            unknown.append(word)   # a stray positional: no job takes one
    parser.reject_unknown(unknown, sorted(known))
    return args, rest
