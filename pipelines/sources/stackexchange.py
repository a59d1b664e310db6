"""Stack Exchange dump Posts.xml -> one `stackexchange` document per question thread.

Thread text: title, question, then the accepted answer, then the other answers by score
(ties by id), each HTML body converted to text with code blocks fenced.

Getting Posts.xml: the official dumps are on archive.org (https://archive.org/details/stackexchange,
up to the April 2024 dump; later ones are Stack Exchange's own per-site download, same format),
one 7-Zip archive per site: `cooking.stackexchange.com.7z` holds Posts.xml next to Users.xml,
Comments.xml, ... (only Posts.xml is read); stackoverflow.com is split per table, so fetch
`stackoverflow.com-Posts.7z` (about 20 GB compressed, about 100 GB of Posts.xml). Extract with
`7z x cooking.stackexchange.com.7z -oRAW/stackexchange/cooking.stackexchange.com Posts.xml`
(p7zip-full / 7-Zip): the folder name becomes the `site` and the thread URL. A `gs://` ROOT
works the same after uploading the extracted file (7z archives are not splittable: extract first).

Any size: the Beam job (stackexchange_read.py) reads a Posts.xml as byte ranges across workers
(posts_xml.py), parses each row alone with a hardened expat parser, groups each row's place in
the file by (file, bucket of its question Id) and reads every bucket's rows back to assemble its
threads (posts_buckets.py); this module holds the pure parts, so
`parse` below (the in-memory reader for previews and tests, capped at `max_xml_bytes`) and the
Beam job produce the same records.

Every row is accounted for: it ends in a thread, or in a Rejected with its reason
(`duplicate_post_id`, `orphan_answer`, `unknown_row_element`, `malformed_row`, `stray_text`,
`row_too_long`, `missing_field`, `post_type_not_thread`). The first row with a given Id in a
thread (lowest byte offset) is the one kept; a later row with the same Id is rejected, never
overwriting it. Ids are checked within a thread (question Id and its answers), not across
threads. A DTD, entity declaration or non-UTF-8 encoding refuses the file whole
(`xml_entities_forbidden`, `unsupported_encoding`): one Rejected, no thread from it. A file cut
short (no closing `</posts>`) keeps its complete rows and gets one extra `truncated_xml` record.
"""
from __future__ import annotations

import io
import posixpath
from typing import Any, BinaryIO, Iterable, Iterator
from xml.parsers import expat

from pipelines.document import Document, Rejected, doc_id, rejected_input
from pipelines.sources.html_text import html_to_text
from pipelines.sources.limits import ReadLimits, checked_document, document_key
from pipelines.sources.posts_xml import Forbidden, Item, Prolog, iter_items, read_prolog, tail_problem

SOURCE = "stackexchange"
PATTERNS = ("*/Posts.xml", "Posts.xml")   # <site>/Posts.xml, or Posts.xml right in the family folder (site = that folder)
# Attributes a thread needs; the rest (ViewCount, OwnerUserId, ...) never enters the shuffle.
THREAD_FIELDS = ("Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "Score", "Title", "Body", "Tags",
                 "CreationDate")
THREAD, ROW = "thread", "row"   # what a record produced by `assemble` stands for

Row = tuple[int, dict[str, str]]   # (byte offset in the file, thread attributes)


def site_of(path: str) -> str:
    """The folder holding Posts.xml, e.g. "cooking.stackexchange.com"."""
    return posixpath.basename(posixpath.dirname(path.replace("\\", "/"))) or "unknown"


def _key(path: str, qid: int) -> str:
    """Keyed by file and question: two dumps of one site (two folders) never share a document id."""
    return document_key(path, f"question {qid}")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def file_reject(path: str, reason: str) -> Rejected:
    """The one record of a file refused whole (DTD, entities, encoding, broken prolog)."""
    return rejected_input(SOURCE, path, "file", reason)


def prolog_of(stream: BinaryIO, path: str) -> Prolog | Rejected:
    """The file's Prolog, or the Rejected that refuses the whole file."""
    try:
        return read_prolog(stream)
    except Forbidden as e:
        return file_reject(path, str(e))
    except expat.ExpatError as e:
        return file_reject(path, f"malformed_xml: {e}")


def _locator(attrs: dict[str, str], offset: int) -> str:
    return f"Id {attrs['Id']} at byte {offset}" if "Id" in attrs else f"byte {offset}"


def _row_reject(path: str, row: Row, reason: str) -> Rejected:
    offset, attrs = row
    return rejected_input(SOURCE, path, _locator(attrs, offset), reason, attrs.get("Body", ""))


def classify(path: str, item: Item) -> tuple[int, Row] | Rejected:
    """(thread key, row) for a question or answer row; a Rejected for anything else.

    The thread key is the question's Id: its own for a question, ParentId for an answer.
    """
    if item.attrs is None:
        return rejected_input(SOURCE, path, f"byte {item.offset}", item.reason or "malformed_row", item.raw)
    attrs = item.attrs
    row = (item.offset, {k: attrs[k] for k in THREAD_FIELDS if k in attrs})
    post_id, kind = _int(attrs.get("Id")), attrs.get("PostTypeId")
    if post_id is None:
        return _row_reject(path, row, "missing_field: Id")
    if kind == "1":
        return post_id, row
    if kind == "2":
        parent = _int(attrs.get("ParentId"))
        if parent is None:
            return _row_reject(path, row, "missing_field: ParentId")
        return parent, row
    return _row_reject(path, row, f"post_type_not_thread: {kind}")


def assemble(path: str, qid: int, rows: Iterable[Row], limits: ReadLimits = ReadLimits()
             ) -> Iterator[tuple[Document | Rejected, str, int]]:
    """(record, THREAD | ROW, rows it holds) for every row of one thread key, in any order.

    Rows are taken in file order (byte offset): the first question row with Id `qid` is the
    question, later ones are `duplicate_post_id`; so is an answer whose Id was already seen.
    Answers without a question are `orphan_answer`. A group whose HTML exceeds the thread cap
    (4 x max_doc_chars) is not held in memory: it becomes one `document_too_long` reject.
    """
    site, bound = site_of(path), 4 * limits.max_doc_chars
    held: list[Row] = []
    count = size = 0
    first_question: dict[str, str] | None = None
    for offset, attrs in rows:
        count += 1
        if first_question is None and attrs.get("PostTypeId") == "1":
            first_question = {k: attrs.get(k, "") for k in ("Title",)}
        if size <= bound:
            size += len(attrs.get("Title", "")) + len(attrs.get("Body", ""))
            held.append((offset, attrs))
    if size > bound:
        yield too_long_thread(path, qid, (first_question or {}).get("Title", ""), count, limits), THREAD, count
        return
    held.sort(key=lambda row: row[0])
    questions = [r for r in held if r[1].get("PostTypeId") == "1"]
    first_at: dict[int | None, int] = {qid: questions[0][0]} if questions else {}
    for row in questions[1:]:
        yield _row_reject(path, row, f"duplicate_post_id: Id {qid} first at byte {first_at[qid]}"), ROW, 1
    replies: list[Row] = []
    for row in (r for r in held if r[1].get("PostTypeId") == "2"):
        aid = _int(row[1].get("Id"))
        if aid in first_at:
            yield _row_reject(path, row, f"duplicate_post_id: Id {aid} first at byte {first_at[aid]}"), ROW, 1
        else:
            first_at[aid] = row[0]
            replies.append(row)
    if not questions:
        for row in replies:
            yield _row_reject(path, row, f"orphan_answer: parent {qid}"), ROW, 1
        return
    yield _thread(site, path, qid, questions[0][1], [r[1] for r in replies], limits), THREAD, 1 + len(replies)


def too_long_thread(path: str, qid: int, title: str, rows: int, limits: ReadLimits) -> Rejected:
    """The one reject of a thread whose HTML exceeds the cap (4 x max_doc_chars); its bodies are never held."""
    site, bound = site_of(path), 4 * limits.max_doc_chars
    meta = {"site": site, "question_id": qid, "original_id": f"{site}/{qid}", "rows": rows, "file": path}
    return Document(doc_id(SOURCE, _key(path, qid)), SOURCE, title.strip(), meta).reject(
        f"document_too_long: thread html > {bound} chars", "read")


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> Iterator[Document | Rejected]:
    """The in-memory reader (previews, tests): the same records as the Beam job, for one file.

    Threads are grouped in a dict, so the file is capped at `limits.max_xml_bytes`
    (`file_too_large`); the curate job reads Stack Exchange through stackexchange_read.ReadPosts,
    which has no such cap.
    """
    if not stream.seekable():
        stream = io.BytesIO(stream.read(limits.max_xml_bytes + 1))
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > limits.max_xml_bytes:
        yield file_reject(path, f"file_too_large: > {limits.max_xml_bytes} bytes of XML")
        return
    prolog = prolog_of(stream, path)
    if isinstance(prolog, Rejected):
        yield prolog
        return
    groups: dict[int, list[Row]] = {}
    rejects: list[Rejected] = []
    truncated = tail_problem(stream, size, prolog)
    if truncated:
        rejects.append(rejected_input(SOURCE, path, "end of file", truncated))
    for item in iter_items(stream, 0, size, prolog, limits.max_line_bytes):
        if item.forbidden:
            yield file_reject(path, item.reason or "xml_entities_forbidden")
            return
        out = classify(path, item)
        if isinstance(out, Rejected):
            rejects.append(out)
        else:
            groups.setdefault(out[0], []).append(out[1])
    yield from rejects
    for qid in sorted(groups):
        for record, _, _ in assemble(path, qid, groups[qid], limits):
            yield record


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
    meta = {"site": site, "question_id": qid, "original_id": f"{site}/{qid}", "tags": question.get("Tags"),
            "score": _int(question.get("Score")), "answers": len(ordered),
            "accepted_answer_id": accepted, "created": question.get("CreationDate"),
            "url": f"https://{site}/questions/{qid}" if "." in site else None, "file": path}
    if len(title) + sum(len(r.get("Body", "")) for r in [question, *ordered]) > 4 * limits.max_doc_chars:
        return Document(doc_id(SOURCE, _key(path, qid)), SOURCE, title, meta).reject(
            f"document_too_long: thread html > {4 * limits.max_doc_chars} chars", "read")
    return checked_document(SOURCE, _key(path, qid), "\n\n".join(p for p in parts if p), meta, limits)
