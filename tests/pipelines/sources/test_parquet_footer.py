"""A damaged Parquet footer costs the rows it describes, each its own reject, never an exception or an abort.

Found by hypothesis (issue 21): a footer column path that is not UTF-8 made `plan_group` raise
UnicodeDecodeError from `path_in_schema`. The same sweep over every footer byte found a size-statistics
histogram whose length disagrees with the schema: pyarrow 25 then calls std::terminate while building the
column metadata (the process aborts), so that case runs in a child process.
"""
import io
import subprocess
import sys

import pytest

from pipelines.document import Rejected
from pipelines.sources import ReadLimits, parse_stream
from pipelines.sources.parquet_footer import unsafe_row_groups
from tests.pipelines.sources import corpus

ROWS = [corpus.stack_row(i) for i in range(5)]


def _file() -> bytes:
    return corpus.stack_parquet(ROWS)


def _poke(data: bytes, pos: int, value: int) -> bytes:
    out = bytearray(data)
    out[pos] = value
    return bytes(out)


def _footer_start(data: bytes) -> int:
    return len(data) - 8 - int.from_bytes(data[-8:-4], "little")


def _read(data: bytes) -> list:
    return list(parse_stream("stack", io.BytesIO(data), "stack/part-0.parquet", ReadLimits()))


@pytest.mark.parametrize("column", [b"content", b"lang", b"hexsha"])
def test_a_column_path_that_is_not_utf8_rejects_each_row(column):
    data = _file()
    out = _read(_poke(data, data.rfind(column), 0xFF))   # the last occurrence: the row group's column path
    assert len(out) == len(ROWS)   # every row counted once
    assert all(isinstance(r, Rejected) and r.reason.startswith("unreadable_parquet: row group 0 footer")
               and "not UTF-8" in r.reason for r in out), [getattr(r, "reason", r) for r in out]


def test_a_histogram_longer_than_the_schema_allows_is_refused_before_pyarrow_sees_it():
    data = _file()
    start = _footer_start(data)
    # The byte that made pyarrow abort ("Definition level histogram size mismatch") in the sweep below.
    found = None
    for pos in range(start, len(data) - 8):
        for value in (0x00, 0x80):
            damaged, unsafe = unsafe_row_groups(io.BytesIO(_poke(data, pos, value)))
            if unsafe and "histogram" in next(iter(unsafe.values())):
                found = (pos, value)
                break
        if found:
            break
    assert found is not None
    code = ("import io,sys; from pipelines.sources import ReadLimits, parse_stream\n"
            "data = sys.stdin.buffer.read()\n"
            "out = list(parse_stream('stack', io.BytesIO(data), 'stack/x.parquet', ReadLimits()))\n"
            "print(sorted({r.reason.split(':')[0] for r in out}))\n")
    child = subprocess.run([sys.executable, "-c", code], input=_poke(data, *found), capture_output=True,
                           timeout=120)
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    assert child.stdout.decode().strip() == "['unreadable_parquet']"


def test_every_footer_byte_damaged_gives_documents_or_rejects():
    """The sweep: each footer byte set to four values; any exception (or an abort) fails the test."""
    data = _file()
    code = ("import io,sys; from pipelines.sources import ReadLimits, parse_stream\n"
            "from pipelines.document import Document, Rejected\n"
            "data = sys.stdin.buffer.read(); n = len(data); start = n - 8 - int.from_bytes(data[-8:-4], 'little')\n"
            "for pos in range(start, n - 8):\n"
            "    for v in (0x00, 0x80, 0xC3, 0xFF):\n"
            "        d = bytearray(data); d[pos] = v\n"
            "        out = list(parse_stream('stack', io.BytesIO(bytes(d)), 'stack/x.parquet', ReadLimits()))\n"
            "        assert all(isinstance(r, (Document, Rejected)) for r in out)\n"
            "print('ok')\n")
    child = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=600)
    assert child.returncode == 0 and child.stdout.decode().strip() == "ok", child.stderr.decode()[-2000:]


def test_an_intact_footer_is_not_flagged():
    assert unsafe_row_groups(io.BytesIO(_file())) == (None, {})
    out = _read(_file())
    assert len(out) == len(ROWS) and not any(isinstance(r, Rejected) for r in out)
