"""Which filters run on which source, in order, with one place for their defaults.

A filter is a pure `(doc) -> None | reason` function (pipelines/document.py: `first_reason` applies a list of them).
A chain (`text_chain`, `code_chain`, ...) returns named steps built with `functools.partial` over
module-level functions and frozen configs, so the list pickles for Beam workers; which tag runs which
chain is declared once, in the family registry (pipelines/sources/__init__.py: `filters_for`); the fastText model is loaded
lazily inside each worker (see langid.py).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from pipelines.document import Document, first_reason
from pipelines.filters.code import MARKUP, CodeFilterConfig, code_reasons
from pipelines.filters.langid import LangIdConfig, langid_reason, strip_code
from pipelines.filters.c4 import c4_rules
from pipelines.filters.gopher import LIGHT, TextFilterConfig, gopher_quality, gopher_repetition

Filter = Callable[[Document], "str | None"]

# Notebooks are judged with the code rules, relaxed: rendered markdown cells make
# long lines and a lower alphanumeric share normal, outputs are already truncated.
NOTEBOOK_CODE = CodeFilterConfig(max_line_length=3000, mean_line_length=200.0, alphanum_fraction=0.2,
                                 reject_xml_header=False)
# Commits: message + unified diff. Size sanity and encoded blobs; the diff lines are
# what the code rules would judge, and a generated-file diff is caught by its path.
COMMIT_CODE = CodeFilterConfig(min_file_bytes=40, max_file_bytes=1_000_000, max_line_length=1000,
                               mean_line_length=200.0, alphanum_fraction=0.2,
                               generated_markers=(), reject_xml_header=False, data_min_lines=50)


@dataclasses.dataclass(frozen=True)
class MinimalConfig:
    """Length sanity for cooldown sources (math, instruct): characters, whitespace-stripped."""
    min_chars: int = 20
    max_chars: int = 1_000_000


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    code: CodeFilterConfig = CodeFilterConfig()
    markup: CodeFilterConfig = MARKUP
    notebook_code: CodeFilterConfig = NOTEBOOK_CODE
    commits: CodeFilterConfig = COMMIT_CODE
    text: TextFilterConfig = TextFilterConfig()
    light_text: TextFilterConfig = LIGHT
    langid: LangIdConfig = LangIdConfig()
    # Notebooks: judge markdown only when there are >= 200 chars of it; fewer is a
    # few headings, and the code cells carry the document.
    notebook_langid: LangIdConfig = LangIdConfig(min_chars=200)
    # Math: LaTeX and formulas lower fastText's English score on English text, so
    # only clearly non-English problems (top-1 score of another language) go.
    math_langid: LangIdConfig = LangIdConfig(min_score=0.3)
    minimal: MinimalConfig = MinimalConfig()
    # Off switch for language ID everywhere (e.g. a non-English experiment).
    use_langid: bool = True


SLIMPAJAMA_EXCLUDED_SETS = frozenset({"RedPajamaGithub", "RedPajamaStackExchange"})


def slimpajama_set_reason(doc: Document) -> str | None:
    """GitHub and StackExchange parts of SlimPajama: code comes from the code sources."""
    name = (doc.meta or {}).get("redpajama_set_name")
    # meta may hold any JSON type (re-read curated rows, other producers): only a string names a set.
    return f"slimpajama_set_excluded: {name}" if isinstance(name, str) and name in SLIMPAJAMA_EXCLUDED_SETS \
        else None


# Cheap, decisive rules first; the repetition rules count n-grams and run last.
TEXT_RULES = (gopher_quality, c4_rules, gopher_repetition)


def text_reasons(doc: Document, cfg: TextFilterConfig = TextFilterConfig()) -> str | None:
    """The first failing Gopher or C4 rule's reason, or None when the document is kept."""
    return first_reason(doc, TEXT_RULES, cfg)


def length_reason(doc: Document, cfg: MinimalConfig = MinimalConfig()) -> str | None:
    size = len(doc.text.strip())
    if size < cfg.min_chars:
        return f"too_short: {size} < {cfg.min_chars} chars"
    if size > cfg.max_chars:
        return f"too_long: {size} > {cfg.max_chars} chars"
    return None


def commit_diff_reason(doc: Document) -> str | None:
    """A commit must change something: at least one +/- line outside the file headers."""
    for line in doc.text.splitlines():
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
            return None
    return "empty_diff: no added or removed lines"


# ---------------------------------------------------------------- chains, one per kind of document
# A family's registry line (pipelines/sources/__init__.py) names the chain each of its tags runs; the
# language-ID behaviour (which config, which part of the text) is part of the chain.

def _langid(cfg: FilterConfig, lid: LangIdConfig, prose: Callable[[str], str] | None = None
            ) -> list[tuple[str, Filter]]:
    if not cfg.use_langid:
        return []
    return [("language id", functools.partial(langid_reason, cfg=lid, prose=prose) if prose
             else functools.partial(langid_reason, cfg=lid))]


def code_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    return [("code quality", functools.partial(code_reasons, cfg=cfg.code))]


def markup_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    return [("markup quality", functools.partial(code_reasons, cfg=cfg.markup))]


def text_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    return [("slimpajama set", slimpajama_set_reason),
            ("gopher and c4 rules", functools.partial(text_reasons, cfg=cfg.text)), *_langid(cfg, cfg.langid)]


def stackexchange_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    """Threads: light prose rules; language ID on the prose outside code blocks."""
    return [("light text rules", functools.partial(text_reasons, cfg=cfg.light_text)),
            *_langid(cfg, cfg.langid, strip_code)]


def notebook_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    """Relaxed code rules; language ID on the markdown only, and only when there is enough of it."""
    return [("notebook code quality", functools.partial(code_reasons, cfg=cfg.notebook_code)),
            *_langid(cfg, cfg.notebook_langid, strip_code)]


def commit_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    return [("commit diff", commit_diff_reason),
            ("commit size and encoded data", functools.partial(code_reasons, cfg=cfg.commits))]


def no_filters(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    """Nothing to filter (e.g. synthetic problems, which are verified by execution instead)."""
    return []


def math_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    return [("length", functools.partial(length_reason, cfg=cfg.minimal)), *_langid(cfg, cfg.math_langid)]


def instruct_chain(cfg: FilterConfig) -> list[tuple[str, Filter]]:
    return [("length", functools.partial(length_reason, cfg=cfg.minimal)), *_langid(cfg, cfg.langid)]


__all__ = ["FilterConfig", "MinimalConfig", "length_reason", "commit_diff_reason", "Filter",
           "slimpajama_set_reason", "text_reasons", "code_chain", "markup_chain", "text_chain",
           "stackexchange_chain", "notebook_chain", "commit_chain", "no_filters", "math_chain", "instruct_chain"]
