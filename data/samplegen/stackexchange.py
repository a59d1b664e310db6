"""stackexchange/<site>/Posts.xml in the dump format, built from the Python FAQ and glossary.

The text is PSF-licensed Python documentation, not Stack Exchange content; scores, dates
and user ids are generated. Bodies are HTML, escaped into XML attributes as in real dumps.
"""
from __future__ import annotations

import datetime
import html
import random
import re
from xml.sax.saxutils import quoteattr

from samplegen import inputs as inp
from samplegen import rst
from samplegen.defects import Defects

DOCS = "usr/share/doc/python3.11/html/_sources"
FAQ_FILES = ("general", "programming", "design", "library", "extending", "windows", "gui", "installed")
TAG_WORDS = ("string", "list", "dictionary", "tuple", "class", "function", "module", "exception", "thread",
             "performance", "file", "unicode", "import", "lambda", "generator", "windows", "tkinter", "regex")
ASK = ("{t}", "I could not find a clear answer to this. {t}", "Newbie question: {t}",
       "{t} I am using Python 3.11.", "{t} Any pointers appreciated.")
EPOCH = datetime.datetime(2012, 3, 1, 9, 0, 0)


def _html(blocks: list[tuple[str, str]]) -> str:
    parts = []
    for kind, text in blocks:
        if kind == "prose":
            parts.append(f"<p>{html.escape(text, quote=False)}</p>")
        else:
            parts.append(f"<pre><code>{html.escape(text, quote=False)}</code></pre>")
    return "\n\n".join(parts) + "\n"


def _attr(value: object) -> str:
    return quoteattr(str(value), {"\n": "&#xA;", "\r": "&#xD;"})


def _row(**attrs: object) -> str:
    return "  <row " + " ".join(f"{k}={_attr(v)}" for k, v in attrs.items() if v is not None) + " />"


class Site:
    def __init__(self, rng: random.Random):
        self.rng, self.rows, self.next_id, self.clock = rng, [], 1, EPOCH

    def _date(self) -> str:
        self.clock += datetime.timedelta(minutes=self.rng.randint(5, 4000))
        return self.clock.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]

    def thread(self, title: str, question: str, answers: list[str], tags: list[str], accept: bool) -> int:
        qid = self.next_id
        aids = list(range(qid + 1, qid + 1 + len(answers)))
        self.next_id = qid + 1 + len(answers)
        scores = sorted((self.rng.randint(-1, 40) for _ in answers), reverse=True)
        q_date = self._date()
        self.rows.append(_row(Id=qid, PostTypeId=1, AcceptedAnswerId=aids[0] if accept and aids else None,
                              CreationDate=q_date, Score=self.rng.randint(0, 60),
                              ViewCount=self.rng.randint(20, 90000), Body=question,
                              OwnerUserId=self.rng.randint(2, 5000), LastActivityDate=q_date, Title=title,
                              Tags="".join(f"<{t}>" for t in tags), AnswerCount=len(answers),
                              CommentCount=self.rng.randint(0, 5), ContentLicense="PSF-2.0"))
        order = list(zip(aids, answers, scores))
        self.rng.shuffle(order)            # dump order is by id, not by score; keep ids, vary scores
        for aid, body, score in sorted(order):
            self.rows.append(_row(Id=aid, PostTypeId=2, ParentId=qid, CreationDate=self._date(), Score=score,
                                  Body=body, OwnerUserId=self.rng.randint(2, 5000), CommentCount=0,
                                  ContentLicense="PSF-2.0"))
        return qid

    def xml(self) -> bytes:
        return ('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(self.rows) + "\n</posts>\n").encode()


def _tags(title: str, extra: str) -> list[str]:
    words = title.lower()
    tags = ["python", extra] + [t for t in TAG_WORDS if t in words]
    return list(dict.fromkeys(tags))[:5]


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    rng = random.Random(f"{seed}/stackexchange")
    root = ins.root("python3.11-doc") / DOCS
    faq = Site(rng)
    for name in FAQ_FILES:
        for title, body in rst.sections((root / f"faq/{name}.rst.txt").read_text(encoding="utf-8")):
            blocks = rst.blocks(body)
            if not title.endswith("?") or not any(k == "prose" for k, _ in blocks):
                continue
            prose = [t for k, t in blocks if k == "prose"]
            question = f"<p>{html.escape(rng.choice(ASK).format(t=title), quote=False)}</p>\n"
            answers = [_html(blocks)]
            if len(prose) >= 3 and rng.random() < 0.5:
                answers.append(_html([("prose", "In short: " + prose[-1])]))
            if rng.random() < 0.1:
                answers.append(_html([("prose", "Have you read the documentation? " + prose[0][:200])]))
            if rng.random() < 0.05:
                answers = []
            faq.thread(title, question, answers, _tags(title, f"faq-{name}"), accept=rng.random() < 0.85)
    # An answer whose question is missing: readers must reject it (orphan_answer).
    orphan = faq.next_id
    faq.rows.append(_row(Id=orphan, PostTypeId=2, ParentId=999999, CreationDate=faq._date(), Score=1,
                         Body="<p>This answer lost its question.</p>\n", OwnerUserId=7, ContentLicense="PSF-2.0"))
    defects.add("stackexchange_orphan_answer", family="stackexchange",
                file="stackexchange/pyfaq.stackexchange.com/Posts.xml", post_id=orphan)
    gloss = Site(random.Random(f"{seed}/stackexchange/glossary"))
    text = (root / "glossary.rst.txt").read_text(encoding="utf-8")
    entries = re.findall(r"^   (\S[^\n]*)\n((?:      [^\n]*\n|\s*\n)+)", text, re.M)
    for term, body in entries:
        term = rst.inline(term.strip())
        blocks = rst.blocks(rst._dedent(body))
        if not blocks:
            continue
        title = f"What does the term \u201c{term}\u201d mean in Python?"
        question = f"<p>I keep seeing \u201c{html.escape(term)}\u201d in the docs. What does it mean?</p>\n"
        gloss.thread(title, question, [_html(blocks)], ["python", "terminology"], accept=True)
    return {"stackexchange/pyfaq.stackexchange.com/Posts.xml": faq.xml(),
            "stackexchange/pyglossary.stackexchange.com/Posts.xml": gloss.xml()}
