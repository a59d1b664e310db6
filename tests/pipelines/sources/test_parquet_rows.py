"""Row-by-row Parquet reading: one item per row always, bad cells cost their row, caps hold on decoded bytes."""
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.sources.limits import MiB, ReadLimits
from pipelines.sources.parquet_rows import UNREADABLE, plan_group, read_row_group


def _pf(table, **kwargs):
    sink = io.BytesIO()
    pq.write_table(table, sink, **kwargs)
    stream = io.BytesIO(sink.getvalue())
    return pq.ParquetFile(stream, pre_buffer=False, buffer_size=1 << 16), stream


def _invalid_utf8(values: list[bytes]) -> pa.Array:
    return pa.array(values, pa.binary()).view(pa.string())


def _read(pf, stream, columns, required, limits=ReadLimits(), group=0):
    return list(read_row_group(pf, stream, group, columns, required, limits))


def test_bad_cell_in_a_required_column_costs_its_row():
    content = [f"row {i}".encode() for i in range(300)]
    content[123] = b"bad \xff"
    pf, stream = _pf(pa.table({"content": _invalid_utf8(content), "n": list(range(300))}))
    out = _read(pf, stream, ["content", "n"], ["content"])
    assert [row for row, _ in out] == list(range(300))
    bad = [(row, item) for row, item in out if isinstance(item, str)]
    assert bad == [(123, "invalid_utf8: column content byte 4")]
    assert out[124][1] == {"content": "row 124", "n": 124}


def test_bad_cell_in_an_optional_column_keeps_the_row():
    path = [f"src/{i}.py".encode() for i in range(10)]
    path[4] = b"\xc3\x28"
    pf, stream = _pf(pa.table({"content": [f"x{i}" for i in range(10)], "path": _invalid_utf8(path)}))
    out = dict(_read(pf, stream, ["content", "path"], ["content"]))
    assert out[4] == {"content": "x4", "path": None, UNREADABLE: ["path"]}
    assert out[5] == {"content": "x5", "path": "src/5.py"}


def test_batches_are_sized_from_the_real_page_sizes():
    """A 1 MiB dictionary value repeated 40 times: the batch size keeps each decoded batch under the cap."""
    big = "v" * MiB
    pf, stream = _pf(pa.table({"content": [big] * 40, "n": list(range(40))}))
    limits = ReadLimits(max_batch_bytes=4 * MiB)
    plan = plan_group(pf, stream, 0, ["content", "n"], limits)
    assert plan.batch_rows <= 4 and not plan.lost
    out = _read(pf, stream, ["content", "n"], ["content"], limits)
    assert len(out) == 40 and all(item["content"] == big for _, item in out)


def test_decoded_bytes_per_row_group_are_capped_by_measurement():
    pf, stream = _pf(pa.table({"content": ["w" * 1000] * 5000}))
    limits = ReadLimits(max_file_bytes=1 << 20, max_batch_bytes=256 * 1024)
    out = _read(pf, stream, ["content"], ["content"], limits)
    assert [row for row, _ in out] == list(range(5000))
    kept = [row for row, item in out if isinstance(item, dict)]
    refused = [item for _, item in out if isinstance(item, str)]
    assert 0 < len(kept) < 1100 and kept == list(range(len(kept)))
    assert refused and all(r.startswith("decompression_limit: row group 0 decoded") for r in refused)


def test_oversized_page_in_an_optional_column_drops_only_that_column():
    pf, stream = _pf(pa.table({"content": ["a", "b"], "blob": ["z" * (3 * MiB), "y"]}))
    out = dict(_read(pf, stream, ["content", "blob"], ["content"], ReadLimits(max_page_bytes=2 * MiB)))
    assert out == {0: {"content": "a", "blob": None, UNREADABLE: ["blob"]},
                   1: {"content": "b", "blob": None, UNREADABLE: ["blob"]}}


def test_oversized_page_in_a_required_column_rejects_each_row_unread():
    pf, stream = _pf(pa.table({"content": ["z" * (3 * MiB), "y", "x"]}))
    out = _read(pf, stream, ["content"], ["content"], ReadLimits(max_page_bytes=2 * MiB))
    assert [row for row, _ in out] == [0, 1, 2]
    assert all(item.startswith("decompression_limit: column content has a page of") for _, item in out)


def _damaged(column: str, **write) -> io.BytesIO:
    """2,000 rows, many small pages per column; 64 bytes overwritten 3/4 into `column`'s chunk
    (no page statistics, so the damage lands in page data, not in header statistics nobody reads)."""
    table = pa.table({"content": [f"document number {i} " * 20 for i in range(2000)],
                      "path": [f"src/module_{i}/file_{i * 7919 % 10007}.py" for i in range(2000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, data_page_size=4096, use_dictionary=False, write_statistics=False, **write)
    data = bytearray(sink.getvalue())
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column)
    at = chunk.data_page_offset + chunk.total_compressed_size * 3 // 4
    data[at:at + 64] = b"\xee" * 64
    return io.BytesIO(bytes(data))


@pytest.mark.parametrize("write", [{"compression": "zstd"}, {"compression": "none", "write_page_checksum": True}],
                         ids=["zstd", "checksum"])
@pytest.mark.parametrize("damaged", ["content", "path"])
def test_corrupt_page_in_the_middle_of_a_group(damaged, write):
    """Garbage 3/4 into a column chunk: every row is accounted for, rows before the damage are read
    whole, a damaged required column rejects the rest, a damaged optional column only loses values."""
    stream = _damaged(damaged, **write)
    pf = pq.ParquetFile(stream, pre_buffer=False, buffer_size=1 << 16, page_checksum_verification=True)
    out = _read(pf, stream, ["content", "path"], ["content"], ReadLimits(max_batch_bytes=64 * 1024))
    assert [row for row, _ in out] == list(range(2000))
    whole = [row for row, item in out if isinstance(item, dict) and UNREADABLE not in item]
    assert whole == list(range(len(whole))) and 1000 < len(whole) < 2000     # a prefix, past the middle
    rest = [item for _, item in out[len(whole):]]
    if damaged == "content":
        assert all(isinstance(item, str) and item.startswith("unreadable_parquet: column content") for item in rest)
    else:
        assert all(isinstance(item, dict) and item[UNREADABLE] == ["path"] and item["path"] is None for item in rest)
    assert all(item["content"].startswith(f"document number {row} ") for row, item in out
               if isinstance(item, dict))
