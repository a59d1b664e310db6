"""Truncated and corrupt .jsonl.gz / .jsonl.zst: every complete line before the damage is kept, and the file
gets one `truncated_stream` reject saying lines were lost (issue 24.3).

On 17a5377 a .zst cut at 60% read as a shorter valid file (no reject for the 40% lost) and a damaged .gz
lost the whole 1 MiB chunk in which GzipFile raised. Cut offsets come from a fixed seed (deterministic CI).
"""
import gzip
import io
import json
import random
import zlib

import pytest
import zstandard

from pipelines.document import Document, Rejected
from pipelines.sources import ReadLimits, open_decompressed, parse_stream

LINES = [json.dumps({"text": f"doc {i} " + "word " * random.Random(i).randint(5, 900)}) for i in range(1008)]
BODY = ("\n".join(LINES) + "\n").encode()


def _pack(kind: str, body: bytes = BODY) -> bytes:
    if kind == "gz":
        return gzip.compress(body, 6, mtime=0)
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(body)


def _two_parts(kind: str) -> bytes:
    """Two gzip members / two zstd frames: the damage can be in either."""
    half = BODY.index(b"\n", len(BODY) // 2) + 1
    return _pack(kind, BODY[:half]) + _pack(kind, BODY[half:])


def _decodable_prefix(kind: str, data: bytes) -> bytes:
    """What an independent one-shot decoder recovers from a truncated stream (all members/frames)."""
    out = b""
    while data:
        d = zlib.decompressobj(31) if kind == "gz" else zstandard.ZstdDecompressor().decompressobj()
        out += d.decompress(data)
        if not d.eof:
            break
        data = d.unused_data
    return out


def _read(kind: str, data: bytes) -> list:
    return list(parse_stream("slimpajama", io.BytesIO(data), f"slimpajama/x.jsonl.{kind}", ReadLimits()))


def _texts(out) -> list[str]:
    return [r.text for r in out if isinstance(r, Document)]


CUTS = sorted(random.Random(24).sample(range(1, 100), 30))


@pytest.mark.parametrize("kind", ["gz", "zst"])
@pytest.mark.parametrize("layout", ["one", "two"])
def test_a_cut_at_any_offset_keeps_every_complete_line_and_names_the_truncation(kind, layout):
    packed = _pack(kind) if layout == "one" else _two_parts(kind)
    for percent in CUTS:
        cut = packed[: len(packed) * percent // 100]
        out = _read(kind, cut)
        complete = _decodable_prefix(kind, cut).count(b"\n")
        expected = [json.loads(line)["text"] for line in LINES[:complete]]
        assert _texts(out) == expected, (kind, layout, percent)
        rejects = [r for r in out if isinstance(r, Rejected)]
        # the line cut in half is no record; the file's reject says lines were lost and how many were read
        assert [r.reason_key for r in rejects] == ["truncated_stream"], (percent, [r.reason for r in rejects])
        assert f"{complete} complete lines read" in rejects[0].reason
        assert out[-1] is rejects[0]


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_the_issue_case_a_file_cut_at_60_percent(kind):
    packed = _pack(kind)
    out = _read(kind, packed[: len(packed) * 60 // 100])
    docs = _texts(out)
    assert 400 < len(docs) < 1008   # the lines before the cut, never a malformed_json for the half line
    assert [r.reason_key for r in out if isinstance(r, Rejected)] == ["truncated_stream"]


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_a_corrupt_byte_keeps_the_lines_decoded_before_it(kind):
    packed = _pack(kind)
    rng = random.Random(2408)
    for pos in sorted(rng.sample(range(20, len(packed) - 8), 25)):
        damaged = bytearray(packed)
        damaged[pos] ^= 0x5A
        out = _read(kind, bytes(damaged))
        assert all(isinstance(r, (Document, Rejected)) for r in out)
        stream_rejects = [r for r in out if isinstance(r, Rejected) and r.reason_key == "truncated_stream"]
        assert len(stream_rejects) == 1 and out[-1] is stream_rejects[0], pos   # checksums catch every flip
        # every line complete before the damaged byte is kept as it was (what follows it, up to the
        # checksum, may be altered text: no streaming decoder can know before the checksum)
        before = _decodable_prefix(kind, packed[:pos]).count(b"\n")
        original = [json.loads(x)["text"] for x in LINES]
        assert _texts(out)[:before] == original[:before], pos


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_an_intact_stream_is_read_byte_for_byte(kind):
    for data in (_pack(kind), _two_parts(kind)):
        assert open_decompressed(io.BytesIO(data), f"x.{kind}").read() == BODY
    assert _texts(_read(kind, _pack(kind))) == [json.loads(x)["text"] for x in LINES]


def test_empty_and_zero_padded_gzip_are_not_damage():
    assert _read("gz", b"") == [] and _read("zst", b"") == []
    padded = _pack("gz") + b"\0" * 1024
    out = _read("gz", padded)
    assert len(_texts(out)) == len(LINES) and not any(isinstance(r, Rejected) for r in out)
