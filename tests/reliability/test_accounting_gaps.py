"""Issue 24.6 and 24.7: rows that were miscounted or files that stopped a job, read and counted now.

Each case failed on 17a5377 (observed there, in tests/reliability/README.md): two `content` columns were one
`error: KeyError` reject with `in` undercounting; a dictionary-encoded `content` was `schema_mismatch`; a
UTF-16 Posts.xml was refused with its rows missing from the ledger; a DOCTYPE inside a comment refused the
whole file; `stackexchange/Posts.xml` without a site folder stopped every family; a synthetic record of our
schema with HumanEval's `task_id` was `missing_field: id`.
"""
import io
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.document import Document, Rejected
from pipelines.sources import FAMILIES, ReadLimits, discover, parse_stream
from pipelines.sources.read import ReadFamily
from pipelines.steps import NAMESPACE
from tests.pipelines.sources.corpus import POSTS, STACK_SCHEMA, stack_row

ROWS = [stack_row(i) for i in range(7)]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _stack(data: bytes) -> list:
    return list(parse_stream("stack", io.BytesIO(data), "stack/x.parquet", ReadLimits()))


def test_two_content_columns_cost_one_reject_per_row_with_a_reason():
    table = pa.Table.from_pylist(ROWS, schema=STACK_SCHEMA)
    table = table.append_column("content", pa.array([f"other {i}" for i in range(len(ROWS))]))
    out = _stack(_parquet(table))
    assert len(out) == len(ROWS)   # `in` counts every row
    assert {r.reason for r in out} == {"schema_mismatch: column content appears 2 times"}
    assert all(isinstance(r, Rejected) for r in out)


def test_a_dictionary_encoded_content_column_is_read():
    table = pa.Table.from_pylist(ROWS, schema=STACK_SCHEMA)
    index = table.schema.get_field_index("content")
    table = table.set_column(index, "content", table.column("content").dictionary_encode())
    assert pa.types.is_dictionary(pq.read_schema(io.BytesIO(_parquet(table))).field("content").type)
    out = _stack(_parquet(table))
    assert [r.text for r in out if isinstance(r, Document)] == [r["content"] for r in ROWS]


def _read_stackexchange(root: str):
    p = beam.Pipeline()
    _ = p | ReadFamily("stackexchange", root) | beam.Map(lambda r: None)
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
                if c.key.metric.namespace == NAMESPACE}
    return {name.split("/rows/")[1]: n for name, n in counters.items() if "/rows/" in name}


def _check_records(root: str, check) -> None:
    """Run ReadFamily("stackexchange") and call `check` on its records as (type, reason, site) tuples;
    an assertion failing inside `check` fails the pipeline, so the test."""
    from apache_beam.testing.util import assert_that

    with beam.Pipeline() as p:
        records = p | ReadFamily("stackexchange", root) | beam.Map(
            lambda r: (type(r).__name__, getattr(r, "reason", ""), r.meta.get("site")))
        assert_that(records, check)


def test_a_utf16_posts_xml_counts_every_row_in_the_ledger(tmp_path):
    site = tmp_path / "stackexchange" / "u.example.com"
    site.mkdir(parents=True)
    (site / "Posts.xml").write_bytes(POSTS.decode("utf-8").replace('encoding="utf-8"', 'encoding="utf-16"')
                                     .encode("utf-16"))
    rows = _read_stackexchange(str(tmp_path))
    assert rows["in"] == POSTS.count(b"<row ") == 5
    assert rows["in_refused_files"] == 5
    assert rows["in"] == rows.get("in_threads", 0) + rows.get("rejected", 0) + rows["in_refused_files"]


def test_a_doctype_inside_a_comment_does_not_refuse_the_file(tmp_path):
    site = tmp_path / "stackexchange" / "c.example.com"
    site.mkdir(parents=True)
    commented = POSTS.replace(b"<posts>\n", b"<posts>\n  <!-- exported with <!DOCTYPE html> pages -->\n")
    (site / "Posts.xml").write_bytes(commented)
    def check(out):
        assert not any("xml_entities_forbidden" in reason for _, reason, _ in out), out
        assert sum(kind == "Document" for kind, _, _ in out) == 2, out   # the two questions' threads

    _check_records(str(tmp_path), check)


def test_posts_xml_directly_in_the_family_folder_is_read(tmp_path):
    family = tmp_path / "stackexchange"
    family.mkdir()
    (family / "Posts.xml").write_bytes(POSTS)
    listing = discover.list_family(str(tmp_path), "stackexchange", FAMILIES["stackexchange"].reader.PATTERNS)
    assert listing.problem() is None and [os.path.basename(f) for f in listing.files] == ["Posts.xml"]
    def check(out):
        assert sorted(site for kind, _, site in out if kind == "Document") == ["stackexchange"] * 2, out

    _check_records(str(tmp_path), check)


def test_a_synthetic_record_of_our_schema_with_task_id_is_accepted():
    line = (b'{"task_id": "HumanEval/0", "prompt": "def add(a, b):\\n", "solution": "    return a + b\\n", '
            b'"tests": "assert add(1, 2) == 3\\n"}\n')
    out = list(parse_stream("synthetic", io.BytesIO(line), "synthetic/x.jsonl", ReadLimits()))
    assert len(out) == 1 and isinstance(out[0], Document), getattr(out[0], "reason", None)
    assert out[0].meta["task_id"] == "HumanEval/0"
