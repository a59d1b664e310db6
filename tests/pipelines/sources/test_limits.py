import gzip
import io

import pytest
import zstandard

from pipelines.document import Document
from pipelines.sources import ReadLimits, open_decompressed, parse_stream
from pipelines.sources.limits import ReadError, iter_lines, text_problem


def test_zst_and_gz_decompress_by_extension():
    data = b"line one\nline two\n"
    assert open_decompressed(io.BytesIO(zstandard.ZstdCompressor().compress(data)), "a.jsonl.zst").read() == data
    assert open_decompressed(io.BytesIO(gzip.compress(data)), "a.jsonl.gz").read() == data
    raw = io.BytesIO(data)
    assert open_decompressed(raw, "a.jsonl") is raw  # plain files pass through (seekable)


def test_zst_bomb_stops_at_cap():
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (8 << 20))  # 8 MiB of zeros, ~1 KB packed
    assert len(bomb) < 4096
    stream = open_decompressed(io.BytesIO(bomb), "x.jsonl.zst", ReadLimits(max_file_bytes=1 << 20))
    with pytest.raises(ReadError, match="decompression_limit"):
        while stream.read(64 << 10):
            pass


def test_bomb_through_parse_stream_is_one_reject_after_valid_records():
    body = b'{"text": "ok one"}\n{"text": "ok two"}\n' + b" " * (4 << 20)
    packed = gzip.compress(body)
    out = list(parse_stream("slimpajama", io.BytesIO(packed), "slimpajama/x.jsonl.gz",
                            ReadLimits(max_file_bytes=1 << 20)))
    assert [type(r).__name__ for r in out] == ["Document", "Document", "Rejected"]
    assert out[-1].reason.startswith("decompression_limit: more than 1048576 bytes")


def test_truncated_gzip_keeps_the_lines_before_the_cut_and_is_one_reject():
    packed = gzip.compress(b'{"text": "a"}\n' * 1000)
    out = list(parse_stream("slimpajama", io.BytesIO(packed[: len(packed) // 2]), "slimpajama/x.jsonl.gz"))
    assert [r.reason_key for r in out if not isinstance(r, Document)] == ["truncated_stream"]
    assert out[-1].reason_key == "truncated_stream"   # tests/pipelines/sources/test_streams.py: line counts


def test_corrupt_zst_is_one_reject():
    out = list(parse_stream("math", io.BytesIO(b"\x28\xb5\x2f\xfd" + b"garbage" * 10), "math/x.jsonl.zst"))
    assert len(out) == 1 and out[0].reason_key == "truncated_stream"


def test_iter_lines_skips_overlong_line_without_buffering_it():
    data = b"a\n" + b"x" * 5000 + b"\nb\nc"
    assert list(iter_lines(io.BytesIO(data), max_line_bytes=100, chunk_bytes=64)) == [
        (1, b"a"), (2, None), (3, b"b"), (4, b"c")]


def test_iter_lines_overlong_last_line():
    assert list(iter_lines(io.BytesIO(b"ok\n" + b"y" * 300), max_line_bytes=100, chunk_bytes=64)) == [
        (1, b"ok"), (2, None)]


@pytest.mark.parametrize("text,key", [
    ("fine", None), ("", "empty_text"), ("  \n", "empty_text"), ("a\x00b", "nul_bytes"),
    ("a\ud800b", "invalid_unicode"), ("x" * 11, "document_too_long"), (5, "wrong_type")])
def test_text_problem(text, key):
    reason = text_problem(text, ReadLimits(max_doc_chars=10))
    assert (reason.split(":")[0] if reason else None) == key
