import io
import json

import zstandard

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import ReadLimits, parse_stream, slimpajama


def _parse(data: bytes, limits=ReadLimits()):
    return list(slimpajama.parse(io.BytesIO(data), "slimpajama/c.jsonl", limits))


def test_records_and_meta():
    data = (json.dumps({"text": "Hello world.", "meta": {"redpajama_set_name": "RedPajamaC4"}}) + "\n"
            + json.dumps({"text": "def f(): pass", "meta": {"redpajama_set_name": "RedPajamaGithub"}}) + "\n")
    out = _parse(data.encode())
    assert [type(r) for r in out] == [Document, Document]
    assert out[0].source == "text" and out[0].text == "Hello world."
    assert out[0].id == doc_id("text", "slimpajama/c.jsonl#line 1")
    assert out[1].meta == {"redpajama_set_name": "RedPajamaGithub", "file": "slimpajama/c.jsonl", "line": 2}


def test_malformed_lines_each_one_reject():
    good = json.dumps({"text": "ok", "meta": {}}).encode()
    data = b"\n".join([good, b'{"text": "cut', b"\xff\xfe\xfa", b'"just a string"', b'{"meta": {}}',
                       b'{"text": 5}', b'{"text": "\\ud800 lone"}', b'{"text": "nul \\u0000"}', b"", good])
    out = _parse(data)
    assert [r.reason for r in out if isinstance(r, Rejected)] == [
        "malformed_json: line 2: Unterminated string starting at",
        "invalid_utf8: line 3 byte 0",
        "malformed_json: line 4: not an object",
        "missing_field: text",
        "missing_field: text (wrong type int)",
        "invalid_unicode: lone surrogate",
        "nul_bytes"]
    assert sum(isinstance(r, Document) for r in out) == 2
    assert all(r.stage == "read" for r in out if isinstance(r, Rejected))


def test_empty_and_blank_files():
    assert _parse(b"") == [] and _parse(b"\n\n  \n") == []


def test_bom_and_crlf():
    out = _parse(b'\xef\xbb\xbf{"text": "a"}\r\n{"text": "b"}\r\n')
    assert [d.text for d in out] == ["a", "b"]


def test_overlong_line_rejected_rest_kept():
    data = b'{"text": "' + b"x" * 500 + b'"}\n{"text": "short"}\n'
    out = _parse(data, ReadLimits(max_line_bytes=100))
    assert [getattr(r, "reason", r.text) for r in out] == ["line_too_long: line 1 > 100 bytes", "short"]


def test_zst_through_parse_stream():
    packed = zstandard.ZstdCompressor().compress(b'{"text": "compressed"}\n')
    out = list(parse_stream("slimpajama", io.BytesIO(packed), "slimpajama/c.jsonl.zst"))
    assert [d.text for d in out] == ["compressed"]


def test_lone_surrogates_never_reach_records():
    data = b'{"text": "ok", "meta": {"redpajama_set_name": "C4\\udc80"}}\n{"text": "bad \\ud800", "x": 1}\n'
    out = _parse(data)
    assert out[0].meta["redpajama_set_name"] == "C4\ufffd"
    assert out[1].reason.startswith("invalid_unicode") and out[1].text == "bad \ufffd"
    for r in out:
        for value in r.to_row().values():
            value.encode("utf-8")
