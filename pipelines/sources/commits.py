"""CommitPack jsonl -> `commits`: the commit message, then a unified diff of the file.

Rendered like `git show` without the header: message, blank line, "--- a/old" /
"+++ b/new" and hunks with 3 lines of context. A diff of huge files is bounded by
ReadLimits.max_doc_chars on both inputs before difflib runs (difflib is superlinear).
"""
from __future__ import annotations

import difflib
from typing import BinaryIO, Iterator, Mapping

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources.jsonl import field, parse_records
from pipelines.sources.limits import ReadLimits, checked_document, document_key

SOURCE = "commits"
PATTERNS = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst")
FIELDS = ("commit", "old_file", "new_file", "old_contents", "new_contents", "message", "subject", "lang",
          "license", "repos")


def unified_diff(old: str, new: str, old_file: str, new_file: str) -> str:
    """git-style unified diff; a missing final newline is marked as git does."""
    lines = []
    for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     fromfile=f"a/{old_file}" if old else "/dev/null",
                                     tofile=f"b/{new_file}" if new else "/dev/null", n=3):
        if line.endswith("\n"):
            lines.append(line)
        else:
            lines.append(line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def render(message: str, diff: str) -> str:
    return message.rstrip("\n") + "\n\n" + diff


def _record(obj: dict, lineno: int, path: str, limits: ReadLimits) -> Document | Rejected:
    commit = field(obj, "commit")
    new_file = field(obj, "new_file")
    old_file = field(obj, "old_file", required=False) or new_file
    new_contents = field(obj, "new_contents")
    old_contents = field(obj, "old_contents", required=False) or ""
    message = field(obj, "message", required=False) or field(obj, "subject")
    size = len(old_contents) + len(new_contents)
    if size > limits.max_doc_chars:
        return rejected_input(SOURCE, path, f"line {lineno}",
                              f"document_too_long: contents {size} > {limits.max_doc_chars} chars")
    repos = obj.get("repos")
    meta = {"commit": commit, "path": new_file, "old_path": old_file,
            "language": obj.get("lang") if isinstance(obj.get("lang"), str) else None,
            "license": obj.get("license") if isinstance(obj.get("license"), str) else None,
            "repo": repos.split(",")[0] if isinstance(repos, str) and repos else None,
            "subject": obj.get("subject") if isinstance(obj.get("subject"), str) else None,
            "file": path, "line": lineno, "original_id": f"{commit}:{new_file}"}
    text = render(message, unified_diff(old_contents, new_contents, old_file, new_file))
    return checked_document(SOURCE, document_key(path, f"line {lineno}"), text, meta, limits)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
          fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    return parse_records(stream, path, SOURCE, limits, _record, fields)
