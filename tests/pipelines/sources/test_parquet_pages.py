"""Page headers read with the compact-thrift walker agree with what pyarrow wrote, whatever the footer says."""
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.sources.parquet_pages import PageError, column_chunk_pages, read_struct
from tests.pipelines.sources.corpus import footer_lie_parquet


def _file(table, **kwargs) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue()


def _chunks(data: bytes):
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    return [meta.row_group(g).column(c) for g in range(meta.num_row_groups)
            for c in range(meta.row_group(g).num_columns)]


def test_read_struct_decodes_compact_protocol():
    # field 1 i32 = 3 (zigzag 6), field 2 binary "ab", field 4 (delta 2) struct{1: true}, stop
    data = bytes([0x15, 0x06, 0x18, 0x02]) + b"ab" + bytes([0x2C, 0x11, 0x00, 0x00]) + b"trailing"
    fields, used = read_struct(data)
    assert fields == {1: 3, 2: b"ab", 4: {1: True}} and used == len(data) - len(b"trailing")
    with pytest.raises(EOFError):
        read_struct(data[:5])


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_pages_add_up_to_the_column_chunk(version):
    table = pa.table({"text": [f"value {i} " * (i % 50) for i in range(5000)], "n": list(range(5000))})
    data = _file(table, data_page_size=4096, data_page_version=version, use_dictionary=["n"])
    stream = io.BytesIO(data)
    for chunk in _chunks(data):
        pages = column_chunk_pages(stream, chunk)
        data_pages = [p for p in pages if p.kind in ("data", "data_v2")]
        assert len(data_pages) > 1, chunk.path_in_schema
        assert {p.kind for p in data_pages} == {"data" if version == "1.0" else "data_v2"}
        assert sum(p.values for p in data_pages) == chunk.num_values
        assert 0 < sum(p.uncompressed for p in pages) <= chunk.total_uncompressed_size


def test_pages_tell_the_truth_when_the_footer_does_not():
    data = footer_lie_parquet(8 << 20, claimed=1000)
    content = next(c for c in _chunks(data) if c.path_in_schema == "content")
    assert content.total_uncompressed_size == 1000
    pages = column_chunk_pages(io.BytesIO(data), content)
    assert max(p.uncompressed for p in pages) >= 8 << 20


def test_garbage_where_a_header_should_be():
    table = pa.table({"text": ["x" * 100] * 10})
    data = bytearray(_file(table))
    chunk = _chunks(bytes(data))[0]
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start:start + 16] = b"\xff" * 16
    with pytest.raises(PageError):
        column_chunk_pages(io.BytesIO(bytes(data)), chunk)
    with pytest.raises(PageError):
        column_chunk_pages(io.BytesIO(bytes(data[:start + 3])), chunk)   # truncated inside the header
