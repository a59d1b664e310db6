"""filters_for: every source tag gets a picklable ordered list of named filters (from its family's registry line)."""
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from pipelines.document import Document
from pipelines.filters import FilterConfig, commit_diff_reason, length_reason
from pipelines.sources import filters_for
from tokens.sources import names

SOURCES = names()

PROSE = ("The committee met on Tuesday to discuss the new budget for the public library. "
         "Members agreed that the reading room needs better lighting and more seats. ") * 4


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_has_picklable_named_steps(source):
    steps = filters_for(source, FilterConfig())
    names = [name for name, _ in steps]
    assert len(names) == len(set(names))
    for name, fn in pickle.loads(pickle.dumps(steps)):
        reason = fn(Document("i", source, PROSE, {}))
        assert reason is None or ":" in reason


def test_unknown_source_is_an_error():
    with pytest.raises(ValueError, match="unknown source"):
        filters_for("podcasts", FilterConfig())


def test_text_steps_and_langid_switch():
    assert [n for n, _ in filters_for("text")] == ["slimpajama set", "gopher and c4 rules", "language id"]
    assert "language id" not in [n for n, _ in filters_for("text", FilterConfig(use_langid=False))]
    assert filters_for("synthetic") == []


def test_text_pipeline_rejects_github_set_first():
    d = Document("i", "text", PROSE, {"redpajama_set_name": "RedPajamaGithub"})
    reasons = [fn(d) for _, fn in filters_for("text")]
    assert reasons[0] == "slimpajama_set_excluded: RedPajamaGithub"


def test_commit_diff_and_length_rules():
    diff = "Fix typo\n\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-pritn(1)\n+print(1)\n"
    assert commit_diff_reason(Document("i", "commits", diff, {})) is None
    assert commit_diff_reason(Document("i", "commits", "Fix\n\n--- a/x.py\n+++ b/x.py\n", {})).startswith("empty_diff")
    assert length_reason(Document("i", "math", "1+1=2", {})).startswith("too_short")
    assert length_reason(Document("i", "math", "Compute the sum of the first ten odd numbers.", {})) is None


def test_math_langid_is_lenient_for_formulas():
    problem = "Let $f(x) = x^2 + 3x$. Find $f'(2)$ and show that $\\int_0^1 f(x)\\,dx = 11/6$."
    steps = dict(filters_for("math"))
    assert steps["language id"](Document("i", "math", problem, {})) is None


def test_config_aggregates_every_filter_default():
    cfg = FilterConfig()
    assert cfg.code.max_line_length == 1000 and cfg.markup.max_line_length > cfg.code.max_line_length
    assert cfg.text.min_stop_words == 2 and cfg.langid.min_score == 0.65
    hash(cfg)   # frozen all the way down: usable as a cache key


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=1500), source=st.sampled_from([s for s in SOURCES if s != "synthetic"]),
       meta=st.dictionaries(st.sampled_from(["path", "language", "redpajama_set_name"]), st.text(max_size=20)))
def test_no_filter_ever_raises(text, source, meta):
    for _, fn in filters_for(source):
        reason = fn(Document("i", source, text, meta))
        assert reason is None or (isinstance(reason, str) and ":" in reason)
