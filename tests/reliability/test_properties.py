"""Properties across readers and checks with *structured* hostile input.

tests/pipelines/sources/test_parse_properties.py feeds raw and mutated bytes (which rarely get past
JSON/Parquet/XML parsing) and the filter tests use string-valued meta. Here the containers are
valid and the values are not: every JSON family gets well-formed lines whose fields hold any JSON
type, The Stack gets valid Parquet with arbitrary cell values, Posts.xml gets valid XML with
arbitrary attributes, notebooks get valid JSON of arbitrary shape, and every filter, the
decontamination check and the verifier's program builder get Documents whose meta values have
any JSON type. None may raise; readers yield Document | Rejected(stage read) that serialise as UTF-8.
"""
from __future__ import annotations

import io
import json
from xml.sax.saxutils import quoteattr

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.document import Document, Rejected
from pipelines.filters import FilterConfig
from pipelines.sources import filters_for
from tokens import sources as source_tags
from pipelines.sources import ReadLimits, parse_stream

LIMITS = ReadLimits(max_file_bytes=1 << 20, max_line_bytes=1 << 16, max_doc_chars=1 << 15,
                    max_notebook_bytes=1 << 16, max_xml_bytes=1 << 20)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that may hold NULs, lone surrogates (valid in JSON as \\udXXX escapes) and any other code point.
any_text = st.text(max_size=60)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), any_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)), max_leaves=12)

FIELDS = {
    "slimpajama": ("text", "meta", "redpajama_set_name"),
    "commits": ("commit", "old_file", "new_file", "old_contents", "new_contents", "subject", "message",
                "lang", "license", "repos"),
    "synthetic": ("id", "prompt", "solution", "tests", "entry_point"),
    "math": ("id", "text", "problem", "solution"),
    "instruct": ("messages", "role", "content", "prompt", "response", "instruction", "context", "category"),
    "notebooks": ("path", "repo_name", "license", "content"),
}


def check(family: str, name: str, data: bytes) -> list:
    out = list(parse_stream(family, io.BytesIO(data), name, LIMITS))
    for r in out:
        assert isinstance(r, (Document, Rejected)), type(r)
        if isinstance(r, Rejected):
            assert r.stage == "read" and r.reason_key and r.reason_key == r.reason_key.strip()
        for value in r.to_row().values():
            value.encode("utf-8")      # writable as Parquet strings downstream
        json.loads(r.to_row()["meta"])
    return out


def record_for(family: str):
    """A JSON object whose keys come mostly from the family's schema, with values of any type."""
    keys = st.sampled_from(FIELDS[family]) | any_text
    # Values biased to the right shape half the time so records get past the first field check.
    value = st.one_of(any_text, json_value, st.lists(st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system"]) | any_text, "content": any_text}), max_size=3))
    return st.dictionaries(keys, value, max_size=len(FIELDS[family]) + 2)


@SETTINGS
@given(family=st.sampled_from(sorted(set(FIELDS) - {"notebooks"})), data=st.data(),
       ascii_only=st.booleans())
def test_jsonl_families_with_any_field_types(family, data, ascii_only):
    rows = data.draw(st.lists(record_for(family), min_size=1, max_size=4))
    blob = b"".join(json.dumps(r, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass") + b"\n" for r in rows)
    out = check(family, f"{family}/x.jsonl", blob)
    assert len(out) >= 1 or not any(rows)


notebook_cell = st.fixed_dictionaries({"cell_type": st.sampled_from(["code", "markdown", "raw"]) | json_value,
                                       "source": any_text | st.lists(any_text, max_size=3) | json_value},
                                      optional={"outputs": st.lists(st.fixed_dictionaries(
                                          {"output_type": st.sampled_from(["stream", "execute_result",
                                                                           "display_data", "error"]),
                                           "text": any_text | json_value,
                                           "data": st.dictionaries(st.sampled_from(["text/plain", "image/png"]),
                                                                   any_text | json_value)}), max_size=3)
                                                | json_value})
notebook = st.fixed_dictionaries({"nbformat": st.sampled_from([4, 3, "4", True]) | json_value,
                                  "cells": st.lists(notebook_cell, max_size=4) | json_value},
                                 optional={"metadata": json_value | st.fixed_dictionaries(
                                     {"kernelspec": st.fixed_dictionaries({"language": any_text | json_value})})})


@SETTINGS
@given(nb=notebook, as_jsonl=st.booleans(), extra=record_for("notebooks"))
def test_notebooks_of_any_shape(nb, as_jsonl, extra):
    content = json.dumps(nb)
    if as_jsonl:
        row = {**extra, "content": content}
        check("notebooks", "notebooks/x.jsonl", json.dumps(row).encode("utf-8", "surrogatepass") + b"\n")
    else:
        out = check("notebooks", "notebooks/x.ipynb", content.encode("utf-8", "surrogatepass"))
        assert len(out) == 1


no_surrogates = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@SETTINGS
@given(rows=st.lists(st.fixed_dictionaries({
    "content": st.none() | no_surrogates,
    "lang": st.none() | st.sampled_from(["Python", "Markdown", "HTML", "COBOL", "python", ""]) | no_surrogates,
    "hexsha": st.none() | no_surrogates,
    "max_stars_repo_path": st.none() | no_surrogates,
    "max_stars_repo_licenses": st.none() | st.lists(st.none() | st.sampled_from(["MIT", "GPL-3.0"]) | no_surrogates,
                                                    max_size=3),
    "max_stars_count": st.none() | st.integers(-2**63, 2**63 - 1)}), min_size=1, max_size=6))
def test_stack_parquet_with_any_cell_values(rows):
    schema = pa.schema([("content", pa.string()), ("lang", pa.string()), ("hexsha", pa.string()),
                        ("max_stars_repo_path", pa.string()), ("max_stars_repo_licenses", pa.list_(pa.string())),
                        ("max_stars_count", pa.int64())])
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, row_group_size=2)
    out = check("stack", "stack/x.parquet", sink.getvalue().to_pybytes())
    assert len(out) == len(rows)      # one record per row, kept or rejected: nothing lost silently


xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t"),
                   max_size=80)


@SETTINGS
@given(posts=st.lists(st.fixed_dictionaries(
    {"Id": st.integers(-3, 8).map(str) | xml_text, "PostTypeId": st.sampled_from(["1", "2", "5"]) | xml_text},
    optional={"ParentId": st.integers(-3, 8).map(str) | xml_text, "AcceptedAnswerId": st.integers(0, 8).map(str),
              "Score": st.integers(-5, 5).map(str) | xml_text, "Title": xml_text,
              "Body": xml_text | st.sampled_from(["<p>hi <code>x=1</code></p>", "<pre><code>a\nb</code></pre>",
                                                  "&lt;script&gt;", "<p><b>unclosed"]),
              "Tags": xml_text}), max_size=8))
def test_posts_xml_with_any_attributes(posts):
    body = "".join("<row " + " ".join(f"{k}={quoteattr(v)}" for k, v in p.items()) + "/>\n" for p in posts)
    data = f'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n{body}</posts>\n'.encode("utf-8")
    check("stackexchange", "stackexchange/site.example.com/Posts.xml", data)


META_KEYS = ("path", "language", "lang", "redpajama_set_name", "ext", "licenses", "tests", "solution", "prompt",
             "file", "task_id")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=800),
       meta=st.dictionaries(st.sampled_from(META_KEYS), json_value | st.lists(json_scalar, min_size=1, max_size=2),
                            max_size=len(META_KEYS)))
def test_every_check_takes_any_meta_types(text, meta):
    from pipelines.verify.synthetic import program_for
    for source in source_tags.names():      # every source's checks see the same hostile meta
        doc = Document("i", source, text, meta)
        for _, fn in filters_for(source, FilterConfig(use_langid=False)):
            reason = fn(doc)
            assert reason is None or (isinstance(reason, str) and ":" in reason)
        program, reason = program_for(doc)
        assert (program is None) != (reason is None)
        assert program is None or isinstance(program, str)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=2000))
def test_decontamination_check_takes_any_text(text):
    from pipelines.filters.decontaminate import DecontamConfig, cached_index, contamination_reason
    reason = contamination_reason(Document("i", "code", text, {}), cached_index(DecontamConfig()))
    assert reason is None or reason.startswith("contaminated:")
