"""Jupyter notebooks (.ipynb nbformat 4, or jsonl rows holding one) -> `notebooks`.

Cells in order: markdown as-is, code as a fenced block in the kernel's language, raw cells
dropped. Outputs are dropped, except short text outputs (stream / text/plain, at most
ReadLimits.max_notebook_output_chars) kept as a "# output:" comment inside the code block:
they show what the code does without copying base64 images or huge tables into the text.
"""
from __future__ import annotations

import json
from typing import Any, BinaryIO, Iterator, Mapping

from pipelines.document import Document, Rejected, rejected_input
from pipelines.sources.jsonl import field, parse_records
from pipelines.sources.limits import ReadLimits, checked_document, document_key, scrub

SOURCE = "notebooks"
PATTERNS = ("*.ipynb", "*.jsonl", "*.jsonl.gz", "*.jsonl.zst")
FIELDS = ("content", "path", "repo_name", "license")   # jsonl rows; an .ipynb file is read as it is


class BadNotebook(Exception):
    """Message is the reject reason."""


def _source_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise BadNotebook("malformed_notebook: cell source is not text")


def _short_output(outputs: Any, limit: int) -> str:
    if not isinstance(outputs, list):
        return ""
    parts = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream":
            value = out.get("text")
        elif out.get("output_type") in ("execute_result", "display_data"):
            value = (out.get("data") or {}).get("text/plain") if isinstance(out.get("data"), dict) else None
        else:
            continue  # errors and other kinds carry tracebacks, not content
        try:
            parts.append(_source_text(value))
        except BadNotebook:
            continue
    text = "".join(parts).strip("\n")
    if not text or len(text) > limit:
        return ""
    return "# output:\n" + "\n".join("# " + line for line in text.split("\n"))


def render(nb: Any, limits: ReadLimits) -> tuple[str, dict[str, Any]]:
    """(text, meta) of a parsed notebook; raises BadNotebook(reason)."""
    if not isinstance(nb, dict):
        raise BadNotebook("malformed_notebook: not a JSON object")
    version = nb.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadNotebook("malformed_notebook: no nbformat")
    if version < 4:
        raise BadNotebook(f"unsupported_nbformat: {version}")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise BadNotebook("malformed_notebook: no cells list")
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    kernel = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    language = kernel.get("language") or info.get("name") or "python"
    language = language.lower() if isinstance(language, str) else "python"
    blocks, n_code, n_markdown = [], 0, 0
    for cell in cells:
        if not isinstance(cell, dict):
            raise BadNotebook("malformed_notebook: cell is not an object")
        kind = cell.get("cell_type")
        source = _source_text(cell.get("source", ""))
        if kind == "markdown":
            if source.strip():
                blocks.append(source.strip("\n"))
                n_markdown += 1
        elif kind == "code":
            output = _short_output(cell.get("outputs"), limits.max_notebook_output_chars)
            if source.strip() or output:
                body = source.strip("\n") + ("\n" + output if output else "")
                blocks.append(f"```{language}\n{body}\n```")
                n_code += 1
    meta = {"language": language, "nbformat": version, "code_cells": n_code, "markdown_cells": n_markdown}
    return "\n\n".join(blocks), meta


def _load(raw: bytes | str) -> Any:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise BadNotebook(f"invalid_utf8: byte {e.start}") from e
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        detail = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        raise BadNotebook(f"malformed_notebook: {detail}") from e


def _parse_ipynb(stream: BinaryIO, path: str, limits: ReadLimits) -> Iterator[Document | Rejected]:
    raw = stream.read(limits.max_notebook_bytes + 1)
    if not raw:
        return  # empty file: no notebook, nothing to reject
    if len(raw) > limits.max_notebook_bytes:
        yield rejected_input(SOURCE, path, "file", f"notebook_too_large: > {limits.max_notebook_bytes} bytes")
        return
    try:
        text, meta = render(_load(raw), limits)
    except BadNotebook as e:
        yield rejected_input(SOURCE, path, "file", str(e), raw[:4096])
        return
    yield checked_document(SOURCE, document_key(path, "file"), text, {**meta, "file": path}, limits)


def _record(obj: dict, lineno: int, path: str, limits: ReadLimits) -> Document | Rejected:
    locator = f"line {lineno}"
    content = field(obj, "content")
    if len(content) > limits.max_notebook_bytes:
        return rejected_input(SOURCE, path, locator, f"notebook_too_large: > {limits.max_notebook_bytes} chars")
    try:
        text, meta = render(_load(content), limits)
    except BadNotebook as e:
        return rejected_input(SOURCE, path, locator, str(e), scrub(content[:4096]))
    nb_path = obj.get("path") if isinstance(obj.get("path"), str) else None
    repo = obj.get("repo_name") if isinstance(obj.get("repo_name"), str) else None
    meta.update({"path": nb_path, "repo": repo, "file": path, "line": lineno,
                 "license": obj.get("license") if isinstance(obj.get("license"), str) else None})
    if repo and nb_path:
        meta["original_id"] = f"{repo}/{nb_path}"
    return checked_document(SOURCE, document_key(path, locator), text, meta, limits)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
          fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    """A .ipynb file is one notebook; anything else is read as jsonl of notebooks."""
    if path.lower().endswith(".ipynb"):
        return _parse_ipynb(stream, path, limits)
    return parse_records(stream, path, SOURCE, limits, _record, fields)
