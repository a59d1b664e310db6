import base64
import io
import json

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import ReadLimits, notebooks
from tests.pipelines.sources.corpus import notebook

PNG = base64.b64encode(b"\x89PNG" + b"\0" * 30000).decode()


def _ipynb(nb, limits=ReadLimits()):
    data = nb if isinstance(nb, bytes) else json.dumps(nb).encode()
    return list(notebooks.parse(io.BytesIO(data), "notebooks/a.ipynb", limits))


def test_cells_rendered_outputs_dropped():
    nb = notebook([("markdown", ["# Title\n", "Intro."]), ("code", "x = 1\nx"), ("raw", "raw stuff"),
                   ("code", "")])
    nb["cells"][1]["outputs"] = [
        {"output_type": "execute_result", "data": {"text/plain": ["1"], "image/png": PNG}, "metadata": {}},
        {"output_type": "display_data", "data": {"image/png": PNG}, "metadata": {}},
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["long"]}]
    (doc,) = _ipynb(nb)
    assert isinstance(doc, Document) and doc.id == doc_id("notebooks", "notebooks/a.ipynb#file")
    assert doc.text == "# Title\nIntro.\n\n```python\nx = 1\nx\n# output:\n# 1\n```"
    assert PNG[:100] not in doc.text and doc.meta["code_cells"] == 1


def test_long_text_output_dropped():
    nb = notebook([("code", "print('x' * 5000)")])
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * 5000}]
    (doc,) = _ipynb(nb)
    assert doc.text == "```python\nprint('x' * 5000)\n```"


def test_bad_notebooks():
    assert [r.reason for r in _ipynb(b"{not json")] == ["malformed_notebook: Expecting property name enclosed in double quotes"]
    assert [r.reason for r in _ipynb(notebook([("code", "x")], nbformat=3))] == ["unsupported_nbformat: 3"]
    assert [r.reason for r in _ipynb({"nbformat": 4, "cells": "no"})] == ["malformed_notebook: no cells list"]
    assert [r.reason for r in _ipynb(b"[1, 2]")] == ["malformed_notebook: not a JSON object"]
    assert [r.reason for r in _ipynb(b'{"nbformat": 4, "cells": [], \xff}')] == ["invalid_utf8: byte 29"]
    assert [r.reason for r in _ipynb(notebook([("markdown", "  ")]))] == ["empty_text"]
    assert [r.reason for r in _ipynb(notebook([("code", "x" * 300)]), ReadLimits(max_notebook_bytes=200))] == [
        "notebook_too_large: > 200 bytes"]
    assert _ipynb(b"") == []


def test_jsonl_of_notebooks():
    rows = [{"path": "a.ipynb", "repo_name": "org/r", "license": "mit", "content": json.dumps(notebook([("code", "1")]))},
            {"path": "b.ipynb", "repo_name": "org/r", "content": "{broken"},
            {"path": "c.ipynb", "repo_name": "org/r"}]
    data = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    out = list(notebooks.parse(io.BytesIO(data), "notebooks/n.jsonl"))
    assert isinstance(out[0], Document) and out[0].id == doc_id("notebooks", "notebooks/n.jsonl#line 1")
    assert out[0].meta["original_id"] == "org/r/a.ipynb"
    assert out[0].meta["repo"] == "org/r" and out[0].meta["license"] == "mit" and out[0].text == "```python\n1\n```"
    assert [r.reason for r in out[1:]] == ["malformed_notebook: Expecting property name enclosed in double quotes",
                                          "missing_field: content"]
    assert all(isinstance(r, Rejected) and r.meta["locator"].startswith("line ") for r in out[1:])
