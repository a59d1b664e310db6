"""Stack Exchange dump Posts.xml -> one `stackexchange` document per question thread.

Thread text: title, question, then the accepted answer, then the other answers by score
(ties by id), each HTML body converted to text with code blocks fenced.

Safe XML: expat is driven directly, in chunks, with handlers that refuse any entity
declaration and any external DTD before a single entity is expanded; the file then becomes
one Rejected "xml_entities_forbidden" (no billion-laughs expansion, no external fetch).
Real dumps declare neither. A malformed file also becomes one Rejected: threads are
grouped in memory across the whole file, so a half-read file would give incomplete threads.
"""
from __future__ import annotations

import posixpath
from typing import Any, BinaryIO, Iterator
from xml.parsers import expat

from pipelines.document import Document, Rejected, doc_id, rejected_input
from pipelines.sources.html_text import html_to_text
from pipelines.sources.limits import ReadLimits, checked_document

FAMILY = "stackexchange"
SOURCE = "stackexchange"
PATTERNS = ("*/Posts.xml",)
CHUNK_BYTES = 1 << 20


class _Forbidden(Exception):
    pass


def site_of(path: str) -> str:
    """The folder holding Posts.xml, e.g. "cooking.stackexchange.com"."""
    return posixpath.basename(posixpath.dirname(path.replace("\\", "/"))) or "unknown"


def _rows(stream: BinaryIO, limits: ReadLimits, out: list[dict[str, str]]) -> Iterator[None]:
    """Feed the stream to expat; appends each <row> attribute dict to `out`, yielding per chunk."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def forbid_entity(name, *_):
        raise _Forbidden(f"xml_entities_forbidden: entity {name}")

    def doctype(name, system_id, public_id, has_internal_subset):
        if system_id or public_id:
            raise _Forbidden(f"xml_entities_forbidden: external DTD {system_id or public_id}")

    def external_ref(context, base, system_id, public_id):
        raise _Forbidden(f"xml_entities_forbidden: external entity {system_id}")

    def start(tag, attrs):
        if tag == "row":
            out.append(attrs)

    parser.EntityDeclHandler = forbid_entity
    parser.UnparsedEntityDeclHandler = forbid_entity
    parser.StartDoctypeDeclHandler = doctype
    parser.ExternalEntityRefHandler = external_ref
    parser.StartElementHandler = start
    total = 0
    while True:
        chunk = stream.read(CHUNK_BYTES)
        total += len(chunk)
        if total > limits.max_xml_bytes:
            raise _Forbidden(f"file_too_large: > {limits.max_xml_bytes} bytes of XML")
        parser.Parse(chunk, not chunk)
        yield
        if not chunk:
            return


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> Iterator[Document | Rejected]:
    site = site_of(path)
    questions: dict[int, dict[str, str]] = {}
    answers: dict[int, list[dict[str, str]]] = {}
    rejects: list[Rejected] = []
    rows: list[dict[str, str]] = []
    try:
        for _ in _rows(stream, limits, rows):
            for row in rows:
                post_id, kind = _int(row.get("Id")), row.get("PostTypeId")
                locator = f"Id {row.get('Id')}"
                if post_id is None:
                    rejects.append(rejected_input(SOURCE, path, locator, "missing_field: Id"))
                elif kind == "1":
                    questions[post_id] = row
                elif kind == "2":
                    parent = _int(row.get("ParentId"))
                    if parent is None:
                        rejects.append(rejected_input(SOURCE, path, locator, "missing_field: ParentId"))
                    else:
                        answers.setdefault(parent, []).append(row)
                else:
                    rejects.append(rejected_input(SOURCE, path, locator, f"post_type_not_thread: {kind}"))
            rows.clear()
    except _Forbidden as e:
        yield rejected_input(SOURCE, path, "file", str(e))
        return
    except expat.ExpatError as e:
        if e.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS] and not questions and not answers:
            return  # empty file: no posts
        yield rejected_input(SOURCE, path, "file",
                             f"malformed_xml: line {e.lineno} column {e.offset}: {expat.errors.messages[e.code]}")
        return
    yield from rejects
    for parent in sorted(answers):
        if parent not in questions:
            for row in answers[parent]:
                yield rejected_input(SOURCE, path, f"Id {row.get('Id')}", f"orphan_answer: parent {parent}",
                                     row.get("Body", ""))
    for qid in sorted(questions):
        yield _thread(site, path, qid, questions[qid], answers.get(qid, []), limits)


def _thread(site: str, path: str, qid: int, question: dict[str, str], replies: list[dict[str, str]],
            limits: ReadLimits) -> Document | Rejected:
    accepted = _int(question.get("AcceptedAnswerId"))
    ordered = sorted(replies, key=lambda r: (_int(r.get("Id")) != accepted,
                                             -(_int(r.get("Score")) or 0), _int(r.get("Id")) or 0))
    title = question.get("Title", "").strip()
    parts = [title] if title else []
    parts.append(html_to_text(question.get("Body", "")))
    for reply in ordered:
        parts.append("Answer:\n" + html_to_text(reply.get("Body", "")))
    meta = {"site": site, "question_id": qid, "tags": question.get("Tags"),
            "score": _int(question.get("Score")), "answers": len(ordered),
            "accepted_answer_id": accepted, "created": question.get("CreationDate"),
            "url": f"https://{site}/questions/{qid}" if "." in site else None, "file": path}
    if len(title) + sum(len(r.get("Body", "")) for r in [question, *ordered]) > 4 * limits.max_doc_chars:
        return Document(doc_id(SOURCE, f"{site}/{qid}"), SOURCE, title, meta).reject(
            f"document_too_long: thread html > {4 * limits.max_doc_chars} chars", "read")
    return checked_document(SOURCE, f"{site}/{qid}", "\n\n".join(p for p in parts if p), meta, limits)
