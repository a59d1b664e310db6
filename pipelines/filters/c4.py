"""C4's document rules for prose (Raffel et al. 2020), as datatrove's `C4QualityFilter` applies them."""
from __future__ import annotations

from pipelines.document import Document
from pipelines.filters.gopher import TextFilterConfig


def c4_rules(doc: Document, cfg: TextFilterConfig) -> str | None:
    lower = doc.text.lower()
    if cfg.c4_lorem_ipsum and "lorem ipsum" in lower:
        return "lorem_ipsum: 'lorem ipsum' in text"
    if cfg.c4_curly_bracket and "{" in doc.text:
        return "curly_bracket: '{' in text"
    if cfg.c4_max_word_length:
        longest = max((len(w) for w in doc.text.split()), default=0)
        if longest > cfg.c4_max_word_length:
            return f"long_word: {longest} > {cfg.c4_max_word_length} chars"
    return None
