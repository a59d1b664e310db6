"""Property: any bytes into any reader yield only Document | Rejected, never an exception."""
import gzip
import io

import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.document import Document, Rejected
from pipelines.sources import FAMILIES, ReadLimits, parse_stream
from tests.pipelines.sources import corpus

LIMITS = ReadLimits(max_file_bytes=1 << 20, max_line_bytes=4096, max_doc_chars=4096,
                    max_notebook_bytes=8192, max_xml_bytes=1 << 20)
# (family, file name, real bytes): every format of every family; the bytes seed mutations
# near the real formats, so they reach past the first byte of each parser.
FILES = sorted((family, name, data) for family in FAMILIES for name, data in corpus.files()[family].items())
_STACK = next(f for f in FILES if f[0] == "stack")


def _check(family: str, name: str, data: bytes):
    out = list(parse_stream(family, io.BytesIO(data), name, LIMITS))
    assert all(isinstance(r, (Document, Rejected)) for r in out)
    assert all(r.reason and r.stage == "read" for r in out if isinstance(r, Rejected))
    for r in out:  # every record can be written to Parquet (UTF-8) downstream
        for value in r.to_row().values():
            value.encode("utf-8")


def _mutate(seed: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    data = bytearray(seed)
    for pos, blob in cuts:
        pos %= max(1, len(data))
        data[pos:pos + len(blob)] = blob
    return bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from(FILES), data=st.binary(max_size=2048))
def test_arbitrary_bytes(file, data):
    _check(file[0], file[1], data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from(FILES),
       cuts=st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(min_size=1, max_size=16)), max_size=4),
       truncate=st.integers(0, 1 << 16))
# Found by hypothesis (issue 21): the Stack file's footer path of `content` made invalid UTF-8
# (UnicodeDecodeError from path_in_schema); then a level histogram pyarrow aborts on.
@example(file=_STACK, cuts=[(_STACK[2].rfind(b"content"), b"\xff")], truncate=1)
@example(file=_STACK, cuts=[(_STACK[2].rfind(b"lang"), b"\xff")], truncate=1)
def test_mutated_real_files(file, cuts, truncate):
    family, name, seed = file
    data = _mutate(seed, cuts)
    if truncate % 3 == 0:
        data = data[: truncate % (len(data) + 1)]
    _check(family, name, data)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=1024), kind=st.sampled_from(["gz", "zst"]), corrupt=st.booleans())
def test_compressed_streams(data, kind, corrupt):
    packed = gzip.compress(data) if kind == "gz" else zstandard.ZstdCompressor().compress(data)
    if corrupt:
        packed = packed[: len(packed) // 2] + b"\x00" * 8
    for family in ("slimpajama", "commits", "math"):
        _check(family, f"{family}/x.jsonl.{kind}", packed)
