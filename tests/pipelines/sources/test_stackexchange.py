import io
import time

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import ReadLimits, stackexchange
from pipelines.sources.html_text import html_to_text
from tests.pipelines.sources.corpus import POSTS

PATH = "stackexchange/cooking.stackexchange.com/Posts.xml"


def _parse(data: bytes, limits=ReadLimits()):
    return list(stackexchange.parse(io.BytesIO(data), PATH, limits))


def test_threads_accepted_first_then_by_score():
    out = _parse(POSTS)
    docs = [r for r in out if isinstance(r, Document)]
    assert [r.reason for r in out if isinstance(r, Rejected)] == ["orphan_answer: parent 77"]
    assert [d.meta["question_id"] for d in docs] == [1, 4]
    assert docs[0].id == doc_id("stackexchange", f"{PATH}#question 1")
    assert docs[0].meta["original_id"] == "cooking.stackexchange.com/1"
    assert docs[0].text == ("Sort a list?\n\nHow do I sort `xs`?\n\nAnswer:\nCall `xs.sort()`.\n\n"
                            "Answer:\nUse sorted:\n\n```\nys = sorted(xs)\n```")
    assert docs[0].meta["url"] == "https://cooking.stackexchange.com/questions/1"
    assert docs[0].meta["accepted_answer_id"] == 3 and docs[0].meta["answers"] == 2
    assert docs[1].text == "Unanswered\n\nAnyone?"


def test_billion_laughs_is_one_reject_quickly():
    lol = b"".join(b'<!ENTITY lol%d "&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;">'
                   % ((i,) + (i - 1,) * 10) for i in range(1, 10))
    bomb = b'<?xml version="1.0"?><!DOCTYPE posts [<!ENTITY lol0 "lol">' + lol + b']><posts><row Id="1" PostTypeId="1" Body="&lol9;"/></posts>'
    start = time.monotonic()
    out = _parse(bomb)
    assert time.monotonic() - start < 1.0
    assert [r.reason for r in out] == ["xml_entities_forbidden: entity lol0"]


def test_external_entity_and_dtd_forbidden():
    xxe = b'<?xml version="1.0"?><!DOCTYPE posts [<!ENTITY x SYSTEM "file:///etc/passwd">]><posts><row Id="1" PostTypeId="1" Body="&x;"/></posts>'
    assert [r.reason for r in _parse(xxe)] == ["xml_entities_forbidden: entity x"]
    dtd = b'<?xml version="1.0"?><!DOCTYPE posts SYSTEM "http://example.com/p.dtd"><posts/>'
    assert [r.reason for r in _parse(dtd)] == ["xml_entities_forbidden: external DTD http://example.com/p.dtd"]


def test_rows_are_parsed_one_by_one_truncated_invalid_utf8_empty():
    # A file cut inside row 2: row 1 stays a thread, the cut row is rejected, the cut is reported.
    cut = _parse(POSTS[:300])
    assert [r.reason_key for r in cut if isinstance(r, Rejected)] == ["truncated_xml", "malformed_row"]
    assert [d.meta["question_id"] for d in cut if isinstance(d, Document)] == [1]
    # Invalid UTF-8 costs its own row only (a question here, so thread 4 is not built).
    bad = _parse(POSTS.replace(b"Anyone?", b"Any\xff?"))
    assert [r.reason_key for r in bad if isinstance(r, Rejected)] == ["malformed_row", "orphan_answer"]
    assert [d.meta["question_id"] for d in bad if isinstance(d, Document)] == [1]
    assert _parse(b"") == [] and _parse(b"<posts></posts>") == [] and _parse(b"<posts/>") == []


def test_other_post_types_and_missing_ids():
    xml = b'<posts><row Id="1" PostTypeId="4" Body="wiki"/><row PostTypeId="1" Title="t" Body="b"/><row Id="2" PostTypeId="2" Body="a"/></posts>'
    assert [r.reason for r in _parse(xml)] == ["post_type_not_thread: 4", "missing_field: Id", "missing_field: ParentId"]


def test_file_cap():
    assert [r.reason_key for r in _parse(POSTS, ReadLimits(max_xml_bytes=100))] == ["file_too_large"]


def test_html_to_text():
    html = "<p>Hi <b>there</b>,&amp; you</p><ul><li>one</li><li>two</li></ul><pre><code>if x &lt; 1:\n    y()\n</code></pre><p>end<br>line</p>"
    assert html_to_text(html) == "Hi there,& you\n\n- one\n- two\n\n```\nif x < 1:\n    y()\n```\n\nend\nline"
    assert html_to_text("<pre>unclosed") == "```\nunclosed\n```"


DUPLICATES = b"""<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" Score="1" Title="First" Body="&lt;p&gt;first question&lt;/p&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" Score="3" Body="&lt;p&gt;answer two&lt;/p&gt;" />
  <row Id="1" PostTypeId="1" Score="9" Title="Second" Body="&lt;p&gt;second question&lt;/p&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" Score="1" Body="&lt;p&gt;answer two again&lt;/p&gt;" />
  <row Id="1" PostTypeId="2" ParentId="1" Score="1" Body="&lt;p&gt;answer reusing the question Id&lt;/p&gt;" />
  <row Id="3" PostTypeId="2" ParentId="1" Score="2" Body="&lt;p&gt;answer three&lt;/p&gt;" />
</posts>
"""


def test_a_repeated_id_never_overwrites_the_first_row():
    out = _parse(DUPLICATES)
    docs = [r for r in out if isinstance(r, Document)]
    assert [d.text for d in docs] == ["First\n\nfirst question\n\nAnswer:\nanswer two\n\nAnswer:\nanswer three"]
    rejected = [(r.reason, r.text) for r in out if isinstance(r, Rejected)]
    first_q, first_a = DUPLICATES.find(b'<row Id="1"'), DUPLICATES.find(b'<row Id="2"')
    assert rejected == [
        (f"duplicate_post_id: Id 1 first at byte {first_q}", "<p>second question</p>"),
        (f"duplicate_post_id: Id 2 first at byte {first_a}", "<p>answer two again</p>"),
        (f"duplicate_post_id: Id 1 first at byte {first_q}", "<p>answer reusing the question Id</p>")]
    assert len({r.id for r in out}) == len(out)     # rejects of one Id stay distinct records


def test_every_row_is_a_thread_row_or_a_reject():
    xml = (b'<posts>\n<row Id="1" PostTypeId="1" Title="t" Body="b"/>\n<Row Id="2" PostTypeId="1" Body="x"/>\n'
           b'<row Id="3" PostTypeId="2" ParentId="1" Body="a"/>\n<row Id="4" PostTypeId="7" Body="w"/>\n'
           b'<row Id="5" PostTypeId="1" Body="&bad;"/>\n<row Id="6" PostTypeId="2" ParentId="99" Body="o"/>\n'
           b'</posts>\n')
    out = _parse(xml)
    rows_in_threads = sum(1 + d.meta["answers"] for d in out if isinstance(d, Document))
    rejects = [r.reason_key for r in out if isinstance(r, Rejected)]
    assert rows_in_threads == 2 and sorted(rejects) == [
        "malformed_row", "orphan_answer", "post_type_not_thread", "unknown_row_element"]
    assert rows_in_threads + len(rejects) == xml.count(b"<row") + xml.count(b"<Row")


def test_dtd_markup_after_the_first_rows_refuses_the_file():
    xml = POSTS.replace(b'  <row Id="4"', b'<!ENTITY x SYSTEM "file:///etc/passwd">\n  <row Id="4"')
    out = _parse(xml)
    assert len(out) == 1 and out[0].reason.startswith("xml_entities_forbidden: <!ENTITY at byte ")


def test_assemble_holds_no_thread_over_the_cap():
    limits = ReadLimits(max_doc_chars=100)
    rows = [(0, {"Id": "1", "PostTypeId": "1", "Title": "T", "Body": "q"})] + [
        (10 * i, {"Id": str(i), "PostTypeId": "2", "ParentId": "1", "Body": "x" * 50}) for i in range(2, 1000)]
    out = list(stackexchange.assemble(PATH, 1, iter(rows), limits))
    assert [(r.reason, kind, n) for r, kind, n in out] == [
        ("document_too_long: thread html > 400 chars", stackexchange.THREAD, 999)]


def test_two_dumps_of_one_site_never_share_a_document_id():
    """Two folders holding the same site's Posts.xml (two dump dates) keep both threads apart (13.3)."""
    a = [r for r in stackexchange.parse(io.BytesIO(POSTS), "2023/cooking.stackexchange.com/Posts.xml")
         if isinstance(r, Document)]
    b = [r for r in stackexchange.parse(io.BytesIO(POSTS), "2024/cooking.stackexchange.com/Posts.xml")
         if isinstance(r, Document)]
    assert [d.meta["original_id"] for d in a] == [d.meta["original_id"] for d in b]
    assert not {d.id for d in a} & {d.id for d in b}
