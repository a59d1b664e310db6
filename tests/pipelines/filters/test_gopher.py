"""Gopher quality/repetition and C4 rules, each on both sides of its threshold."""
import dataclasses

from hypothesis import given, settings, strategies as st

from pipelines.document import Document
from pipelines.filters import gopher as tf
from pipelines.filters import c4, slimpajama_set_reason, text_reasons
from pipelines.filters.gopher import LIGHT, TextFilterConfig

CFG = TextFilterConfig()
SENTENCES = [
    "The river runs north through the old valley and feeds the lake with cold water.",
    "Farmers in the region have grown barley and oats there for several hundred years.",
    "In spring the meadows fill with flowers that attract bees from the nearby hills.",
    "A narrow road connects the village to the market town on the other side of the pass.",
    "Travellers often stop at the inn to rest their horses before the long climb ahead.",
    "Local historians say that the bridge was rebuilt twice after severe winter floods.",
    "Children walk to the school along a path that follows the edge of the forest.",
    "Every autumn the community gathers to celebrate the harvest with music and food.",
]
GOOD = "\n\n".join(" ".join(SENTENCES[i:i + 2]) for i in range(0, 8, 2))


def doc(text, **meta):
    return Document("id", "text", text, meta)


def key(reason):
    return reason.split(":")[0] if reason else None


def test_good_prose_passes():
    assert text_reasons(doc(GOOD)) is None


def test_word_count_bounds():
    assert key(tf.gopher_quality(doc(" ".join(SENTENCES[:2])), CFG)) == "too_few_words"
    small = dataclasses.replace(CFG, max_words=60)
    assert key(tf.gopher_quality(doc(GOOD), small)) == "too_many_words"


def test_mean_word_length():
    short = " ".join(["a of to is it"] * 20) + " the and"
    assert key(tf.gopher_quality(doc(short), CFG)) == "mean_word_length"
    long = " ".join(["internationalisation"] * 60) + " the and"
    assert key(tf.gopher_quality(doc(long), CFG)) == "mean_word_length"


def test_symbol_word_ratio():
    hashtags = GOOD + "\n" + " ".join(f"#tag{i}" for i in range(20))
    assert key(tf.gopher_quality(doc(hashtags), CFG)) == "symbol_word_ratio"
    assert tf.gopher_quality(doc(GOOD + " #one"), CFG) is None


def test_bullet_lines():
    bullets = "\n".join(f"- {s}" for s in SENTENCES)
    assert key(tf.gopher_quality(doc(bullets), CFG)) == "bullet_lines_ratio"
    mixed = "\n".join(f"- {s}" if i % 2 else s for i, s in enumerate(SENTENCES))
    assert tf.gopher_quality(doc(mixed), CFG) is None


def test_ellipsis_lines():
    trailing = "\n".join(s[:-1] + "..." if i < 4 else s for i, s in enumerate(SENTENCES))
    assert key(tf.gopher_quality(doc(trailing), dataclasses.replace(CFG, max_symbol_word_ratio=1.0))) \
        == "ellipsis_lines_ratio"
    two = "\n".join(s[:-1] + "..." if i < 2 else s for i, s in enumerate(SENTENCES))
    assert tf.gopher_quality(doc(two), CFG) is None


def test_alpha_words_ratio():
    numbers = GOOD + "\n" + " ".join(str(i) for i in range(100))
    assert key(tf.gopher_quality(doc(numbers), CFG)) == "alpha_words_ratio"


def test_stop_words():
    no_stop = " ".join(["Rivers flow north past green meadows near quiet villages."] * 8)
    assert key(tf.gopher_quality(doc(no_stop), CFG)) == "stop_words"
    assert tf.gopher_quality(doc(no_stop + " The river and the lake."), CFG) is None


def test_duplicate_lines_and_paragraphs():
    para = "\n\n".join([SENTENCES[0]] * 3 + SENTENCES[1:4])
    assert key(tf.gopher_repetition(doc(para), CFG)) == "dup_para_fraction"
    lines = "\n".join(SENTENCES + [SENTENCES[0]] * 4)
    assert key(tf.gopher_repetition(doc(lines), CFG)) == "dup_line_fraction"
    assert tf.gopher_repetition(doc("\n".join(SENTENCES)), CFG) is None


def test_duplicate_line_characters():
    long_line = SENTENCES[0] * 4
    text = "\n".join([long_line, long_line] + SENTENCES[1:])
    assert key(tf.gopher_repetition(doc(text), CFG)) == "dup_line_char_fraction"


def test_top_ngram_fraction():
    cfg = dataclasses.replace(CFG, max_dup_line_fraction=1, max_dup_line_char_fraction=1,
                              max_dup_para_fraction=1, max_dup_para_char_fraction=1)
    text = " ".join(SENTENCES) + " " + " ".join(f"click here {w}" for w in "abcdefghijklmnopqrstuvwxyz")
    assert key(tf.gopher_repetition(doc(text), cfg)) == "top_2gram_char_fraction"


def test_duplicated_ngram_fraction():
    cfg = dataclasses.replace(CFG, top_ngram_char_fractions=())
    text = " ".join(SENTENCES) + " " + " ".join(SENTENCES[:3])
    assert key(tf.gopher_repetition(doc(text), cfg)).startswith("dup_") and "gram" in tf.gopher_repetition(doc(text), cfg)
    assert tf.gopher_repetition(doc(" ".join(SENTENCES)), cfg) is None


def test_c4_rules():
    assert key(c4.c4_rules(doc(GOOD + " Lorem ipsum dolor sit amet."), CFG)) == "lorem_ipsum"
    assert key(c4.c4_rules(doc(GOOD + " " + "x" * 1001), CFG)) == "long_word"
    assert c4.c4_rules(doc(GOOD + " \\frac{a}{b}"), CFG) is None
    assert key(c4.c4_rules(doc(GOOD + " {"), dataclasses.replace(CFG, c4_curly_bracket=True))) == "curly_bracket"


def test_slimpajama_sets():
    assert slimpajama_set_reason(doc(GOOD, redpajama_set_name="RedPajamaGithub")) == \
        "slimpajama_set_excluded: RedPajamaGithub"
    assert key(slimpajama_set_reason(doc(GOOD, redpajama_set_name="RedPajamaStackExchange"))) == \
        "slimpajama_set_excluded"
    assert slimpajama_set_reason(doc(GOOD, redpajama_set_name="RedPajamaC4")) is None
    assert slimpajama_set_reason(doc(GOOD)) is None
    assert slimpajama_set_reason(doc(GOOD, redpajama_set_name=["RedPajamaGithub"])) is None  # unhashable: no crash


def test_light_preset_keeps_short_listy_threads():
    thread = "How do I sort a dict by value?\n- use sorted with a key\n- or the operator module"
    assert text_reasons(doc(thread), LIGHT) is None
    assert key(text_reasons(doc(thread), CFG)) == "too_few_words"
    assert key(text_reasons(doc("ok thanks"), LIGHT)) == "too_few_words"


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=2000), name=st.one_of(st.none(), st.text(max_size=30)))
def test_never_raises(text, name):
    d = doc(text, redpajama_set_name=name)
    for reason in (text_reasons(d), text_reasons(d, LIGHT), slimpajama_set_reason(d)):
        assert reason is None or (isinstance(reason, str) and ":" in reason)
