import io

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import ReadLimits, stack
from tests.pipelines.sources import corpus


def _parse(data: bytes, limits=ReadLimits()):
    return list(stack.parse(io.BytesIO(data), "stack/x.parquet", limits))


def _reasons(records):
    return [r.reason for r in records if isinstance(r, Rejected)]


def test_rows_routed_by_language_and_licence():
    rows = [corpus.stack_row(0), corpus.stack_row(1, "Markdown", "# T\n"), corpus.stack_row(2, "cpp", "int x;\n"),
            corpus.stack_row(3, "COBOL", "X.\n"), corpus.stack_row(4, licenses=("GPL-3.0",)),
            corpus.stack_row(5, licenses=("MIT", "AGPL-3.0")), corpus.stack_row(6, licenses=())]
    out = _parse(corpus.stack_parquet(rows))
    docs = [r for r in out if isinstance(r, Document)]
    assert [(d.source, d.meta["language"]) for d in docs] == [("code", "Python"), ("markup", "Markdown"),
                                                              ("code", "C++")]
    assert _reasons(out) == ["language_not_selected: COBOL", "license_not_permissive: GPL-3.0",
                             "license_not_permissive: AGPL-3.0", "license_not_permissive: none"]
    first = docs[0]
    assert first.id == doc_id("code", "stack/x.parquet#row 0")
    assert first.meta["original_id"] == "org/repo0/src/m0.py@" + "0" * 40
    assert first.text == rows[0]["content"]
    assert first.meta["repo"] == "org/repo0" and first.meta["path"] == "src/m0.py"
    assert first.meta["licenses"] == ["MIT"] and first.meta["file"] == "stack/x.parquet"


def test_streams_many_row_groups_in_order():
    rows = [corpus.stack_row(i) for i in range(700)]
    out = _parse(corpus.stack_parquet(rows, row_group_size=50))
    assert [d.meta["row"] for d in out] == list(range(700))
    assert all(isinstance(d, Document) for d in out)


def test_truncated_parquet_is_one_reject():
    data = corpus.stack_parquet([corpus.stack_row(i) for i in range(10)])
    out = _parse(data[: len(data) // 2])
    assert len(out) == 1 and out[0].reason_key == "unreadable_parquet" and out[0].stage == "read"


def test_garbage_and_empty_files():
    assert _reasons(_parse(b"this is not parquet at all")) [0].startswith("unreadable_parquet")
    assert _parse(b"") == []


def test_corrupt_page_keeps_earlier_row_groups():
    rows = [corpus.stack_row(i) for i in range(30)]
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=corpus.STACK_SCHEMA), sink, row_group_size=10)
    data = bytearray(sink.getvalue())
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1)
    col = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == "content")
    for i in range(col.data_page_offset + 20, col.data_page_offset + col.total_compressed_size):
        data[i] = 0xAB
    out = _parse(bytes(data))
    docs = [r for r in out if isinstance(r, Document)]
    assert [d.meta["row"] for d in docs] == list(range(10)) + list(range(20, 30))  # groups 0 and 2 survive
    lost = [r for r in out if isinstance(r, Rejected)]
    assert [r.meta["row"] for r in lost] == list(range(10, 20))                   # each lost row counted
    assert all(r.reason.startswith("unreadable_parquet: column content") for r in lost)
    assert len(out) == 30


def test_schema_mismatch():
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": ["x"], "lang": ["Python"]}), sink)
    assert _reasons(_parse(sink.getvalue())) == ["schema_mismatch: no content column"]
    sink = io.BytesIO()
    pq.write_table(pa.table({"content": [1], "lang": ["Python"]}), sink)
    assert _reasons(_parse(sink.getvalue())) == ["schema_mismatch: content is int64"]
    sink = io.BytesIO()
    pq.write_table(pa.table({"content": ["x"]}), sink)
    assert _reasons(_parse(sink.getvalue())) == ["schema_mismatch: no lang column"]


def test_language_column_alias_and_minimal_schema():
    sink = io.BytesIO()
    pq.write_table(pa.table({"content": ["print(1)\n"], "language": ["python"], "licenses": [["MIT"]]}), sink)
    out = _parse(sink.getvalue())
    assert [(type(r).__name__, r.source) for r in out] == [("Document", "code")]


def test_bad_cells():
    rows = [corpus.stack_row(0, content="a\x00b"), corpus.stack_row(1, content=""),
            {**corpus.stack_row(2), "content": None}, {**corpus.stack_row(3), "lang": None}]
    assert [r.split(":")[0] for r in _reasons(_parse(corpus.stack_parquet(rows)))] == [
        "nul_bytes", "empty_text", "missing_field", "missing_field"]


def test_declared_size_over_cap():
    out = _parse(corpus.stack_parquet([corpus.stack_row(0)]), ReadLimits(max_file_bytes=10))
    assert len(out) == 1 and out[0].reason_key == "decompression_limit"


def test_document_too_long():
    out = _parse(corpus.stack_parquet([corpus.stack_row(0, content="x" * 50)]), ReadLimits(max_doc_chars=20))
    assert _reasons(out) == ["document_too_long: 50 > 20 chars"]


def test_identical_blobs_in_two_repos_get_distinct_ids():
    a, b = corpus.stack_row(0), corpus.stack_row(1)
    b["content"], b["hexsha"] = a["content"], a["hexsha"]
    docs = [r for r in _parse(corpus.stack_parquet([a, b])) if isinstance(r, Document)]
    assert len(docs) == 2 and docs[0].id != docs[1].id


def test_stack_v2_column_names_hydrated_with_content():
    """the-stack-v2(-dedup) rows once `content` is fetched: language, repo_name, path, detected_licenses, blob_id."""
    sink = io.BytesIO()
    pq.write_table(pa.table({
        "blob_id": ["b" * 40], "path": ["/pkg/mod.py"], "repo_name": ["org/v2repo"], "language": ["Python"],
        "detected_licenses": [["Apache-2.0"]], "license_type": ["permissive"], "extension": ["py"],
        "star_events_count": [12], "length_bytes": [22], "content": ["def g():\n    return 2\n"]}), sink)
    (doc,) = _parse(sink.getvalue())
    assert isinstance(doc, Document) and doc.source == "code"
    assert (doc.meta["repo"], doc.meta["path"], doc.meta["licenses"], doc.meta["hexsha"], doc.meta["stars"],
            doc.meta["ext"]) == ("org/v2repo", "/pkg/mod.py", ["Apache-2.0"], "b" * 40, 12, "py")


def test_language_from_the_hugging_face_folder_when_there_is_no_lang_column():
    sink = io.BytesIO()
    pq.write_table(pa.table({"content": ["fn main() {}\n"], "licenses": [["MIT"]]}), sink)
    out = list(stack.parse(io.BytesIO(sink.getvalue()), "stack/data/rust/train-00000-of-00001.parquet"))
    assert [(r.source, r.meta["language"]) for r in out] == [("code", "Rust")]
    out = list(stack.parse(io.BytesIO(sink.getvalue()), "stack/data/misc/train.parquet"))
    assert [r.reason for r in out] == ["schema_mismatch: no lang column"]


def test_row_group_parts_read_the_same_rows_as_the_whole_file():
    data = corpus.stack_parquet([corpus.stack_row(i) for i in range(250)], row_group_size=60)
    assert stack.parts(io.BytesIO(data), "stack/x.parquet") == [0, 1, 2, 3, 4]
    whole = [(r.id, r.meta["row"]) for r in _parse(data)]
    by_part = [(r.id, r.meta["row"]) for g in range(5)
               for r in stack.parse_part(io.BytesIO(data), "stack/x.parquet", g)]
    assert by_part == whole and [row for _, row in whole] == list(range(250))


def test_a_file_with_the_wrong_schema_rejects_each_of_its_rows():
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b", "c"], "lang": ["Python"] * 3}), sink)
    out = _parse(sink.getvalue())
    assert [(r.reason, r.meta["row"]) for r in out] == [("schema_mismatch: no content column", i) for i in range(3)]
