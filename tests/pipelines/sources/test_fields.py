"""Field mapping (--field FAMILY.NAME=COLUMN / --fields YAML): exports with other column names read unchanged.

One real-format export per family, with the column names a public dataset of that kind uses
(RedPajama-V2 `raw_content`, Alpaca `instruction/input/output`, MetaMathQA `query/response`, ...)."""
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines import curate
from pipelines.document import Document, Rejected
from pipelines.sources import fields, parse_stream
from tests.pipelines.sources import corpus


def _read(family, name, data, mapping):
    return list(parse_stream(family, io.BytesIO(data), name, fields=fields.from_dict({family: mapping})
                             .for_family(family)))


def _stack_export() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"code": ["def f():\n    return 1\n"], "language_name": ["Python"],
                             "repository": ["org/r"], "file_path": ["f.py"], "licence_list": [["MIT"]]}), sink)
    return sink.getvalue()


EXPORTS = {  # family -> (file name, bytes, mapping, expected text)
    "stack": ("stack/export.parquet", _stack_export(),
              {"content": "code", "lang": "language_name", "max_stars_repo_name": "repository",
               "max_stars_repo_path": "file_path", "licenses": "licence_list"},
              "def f():\n    return 1\n"),
    "slimpajama": ("slimpajama/rpv2.jsonl.zst", zstandard.ZstdCompressor().compress(corpus.jsonl([
        {"raw_content": "A page from RedPajama-V2.", "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}])),
        {"text": "raw_content"}, "A page from RedPajama-V2."),
    "commits": ("commits/c.jsonl.gz", gzip.compress(corpus.jsonl([
        {"sha": "a" * 40, "path": "x.py", "before": "x = 1\n", "after": "x = 2\n", "commit_message": "Bump x"}])),
        {"commit": "sha", "new_file": "path", "old_contents": "before", "new_contents": "after",
         "message": "commit_message"},
        "Bump x\n\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"),
    "notebooks": ("notebooks/n.jsonl", corpus.jsonl([
        {"notebook": json.dumps(corpus.notebook([("code", "print(1)")])), "repo": "org/nb", "file": "a.ipynb"}]),
        {"content": "notebook", "repo_name": "repo", "path": "file"}, "```python\nprint(1)\n```"),
    "synthetic": ("synthetic/s.jsonl", corpus.jsonl([
        {"problem_id": 7, "question": "Write inc(x).", "answer_code": "def inc(x):\n    return x + 1\n",
         "unit_tests": "assert inc(1) == 2\n"}]),
        {"id": "problem_id", "prompt": "question", "solution": "answer_code", "tests": "unit_tests"},
        "Write inc(x).\ndef inc(x):\n    return x + 1\n"),
    "math": ("math/metamath.jsonl", corpus.jsonl([{"query": "What is 2 * 3?", "response": "6"}]),
             {"problem": "query", "solution": "response"}, "What is 2 * 3?\n\n6"),
    "instruct": ("instruct/alpaca.jsonl", corpus.jsonl([
        {"instruction": "Name a colour.", "input": "", "output": "Blue."}]),
        {"context": "input", "response": "output"}, "User: Name a colour.\n\nAssistant: Blue."),
}


@pytest.mark.parametrize("family", sorted(EXPORTS))
def test_each_family_reads_an_export_with_other_names(family):
    name, data, mapping, text = EXPORTS[family]
    unmapped = _read(family, name, data, {})
    assert all(isinstance(r, Rejected) for r in unmapped)           # without the mapping: not readable
    (doc,) = _read(family, name, data, mapping)
    assert isinstance(doc, Document) and doc.text == text, doc


def test_stack_mapping_carries_the_metadata_columns():
    name, data, mapping, _ = EXPORTS["stack"]
    (doc,) = _read("stack", name, data, mapping)
    assert (doc.meta["repo"], doc.meta["path"], doc.meta["licenses"]) == ("org/r", "f.py", ["MIT"])


def test_a_mapped_field_missing_from_a_record_names_the_column():
    out = _read("math", "math/m.jsonl", corpus.jsonl([{"query": "1 + 1?"}]), {"problem": "query", "solution": "resp"})
    assert [r.reason for r in out] == ["missing_field: solution (read from resp)"]
    (reject,) = _read("stack", *EXPORTS["stack"][:2], {"content": "body"})
    assert reject.reason == "schema_mismatch: no body (mapped to content) column"


@pytest.mark.parametrize("spec,message", [
    ("stack.content", "expected FAMILY.NAME=COLUMN"),
    ("content=code", "expected FAMILY.NAME=COLUMN"),
    ("nope.text=x", "unknown family 'nope'"),
    ("stack.body=x", "stack has no field 'body'; fields: content, lang"),
    ("stackexchange.Body=x", "takes no field mapping"),
    ("math.text=", "empty column name"),
])
def test_bad_field_specs_are_refused_with_the_reason(spec, message):
    with pytest.raises(fields.FieldMapError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fields.parse_field(spec)


def test_yaml_file_then_flags(tmp_path):
    path = tmp_path / "fields.yaml"
    path.write_text("stack:\n  content: code\n  lang: language_name\nmath:\n  text: body\n")
    built = fields.build(["stack.lang=lang_id"], str(path))
    assert built.as_dict() == {"math": {"text": "body"}, "stack": {"content": "code", "lang": "lang_id"}}
    path.write_text("- just a list\n")
    with pytest.raises(fields.FieldMapError, match="expected a mapping"):
        fields.build([], str(path))


def test_curate_flags_build_the_field_map(tmp_path):
    args, _ = curate.parse_args(["--input", "in", "--output", "out", "--field", "math.text=body",
                                 "--field", "stack.content=code"])
    assert curate.config_from_args(args).fields.as_dict() == {"math": {"text": "body"}, "stack": {"content": "code"}}
    args, _ = curate.parse_args(["--input", "in", "--output", "out", "--field", "math.txt=body"])
    with pytest.raises(SystemExit, match="math has no field 'txt'"):
        curate.config_from_args(args)


def test_readme_examples_are_the_tested_mappings():
    """The README's one-example-per-family table states exactly the mappings tested above."""
    import pathlib
    import re
    readme = (pathlib.Path(__file__).resolve().parents[3] / "README.md").read_text()
    documented: dict[str, dict[str, str]] = {}
    for spec in re.findall(r"--field ([a-z]+\.\w+=\w+)", readme):
        family, name, column = fields.parse_field(spec)
        documented.setdefault(family, {})[name] = column
    assert documented == {family: export[2] for family, export in EXPORTS.items()}
