"""The committed sample corpus (data/sample): schemas, counts, planted defects, regeneration."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pyarrow.parquet as pq
import pytest
import zstandard

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
DEFECTS = json.loads((SAMPLE / "DEFECTS.json").read_text())
STACK_COLUMNS = {"content": "string", "lang": "string", "ext": "string", "size": "int64", "hexsha": "string",
                 "max_stars_repo_path": "string", "max_stars_repo_name": "string",
                 "max_stars_repo_head_hexsha": "string", "max_stars_repo_licenses": "list<element: string>",
                 "max_stars_count": "int64", "licenses": "list<element: string>", "avg_line_length": "double",
                 "max_line_length": "int64", "alphanum_fraction": "double"}
TOP_LANGS = {"Python", "JavaScript", "TypeScript", "Java", "C", "C++", "Go", "Rust", "Ruby", "PHP", "Shell", "C#",
             "Lua", "Kotlin", "Swift", "Scala", "SQL", "Perl"}
SETS = {"RedPajamaCommonCrawl", "RedPajamaC4", "RedPajamaWikipedia", "RedPajamaBook", "RedPajamaArXiv",
        "RedPajamaGithub", "RedPajamaStackExchange"}


def _lines(rel: str) -> list[bytes]:
    data = (SAMPLE / rel).read_bytes()
    if rel.endswith(".zst"):
        data = zstandard.ZstdDecompressor().decompress(data)
    elif rel.endswith(".gz"):
        data = gzip.decompress(data)
    return data.splitlines()


def _malformed(kind: str) -> set[tuple[str, int]]:
    return {(d["file"], d["line"]) for d in DEFECTS.get(kind, [])}


def _jsonl(family: str, malformed_kind: str | None = None) -> list[dict]:
    bad = _malformed(malformed_kind) if malformed_kind else set()
    rows = []
    for path in sorted((SAMPLE / family).glob("*.jsonl*")):
        rel = str(path.relative_to(SAMPLE))
        for n, line in enumerate(_lines(rel), 1):
            if (rel, n) in bad:
                with pytest.raises(ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                    json.loads(line.decode("utf-8"))
            else:
                rows.append(json.loads(line.decode("utf-8")))
    return rows


def _stack_tables() -> dict[str, "pq.Table"]:
    return {str(p.relative_to(SAMPLE)): pq.read_table(p) for p in sorted((SAMPLE / "stack").glob("*.parquet"))}


def test_total_size_and_checksums():
    files = [p for p in SAMPLE.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 8_500_000
    sums = dict(reversed(line.split("  ", 1)) for line in (SAMPLE / "SHA256SUMS").read_text().splitlines())
    listed = set(sums)
    assert listed == {str(p.relative_to(SAMPLE)) for p in files} - {"SHA256SUMS"}
    for rel, digest in sums.items():
        assert hashlib.sha256((SAMPLE / rel).read_bytes()).hexdigest() == digest, rel


def test_stack_schema_languages_and_metadata():
    tables = _stack_tables()
    assert 2 <= len(tables) <= 4
    langs: dict[str, int] = {}
    total = 0
    for table in tables.values():
        assert {f.name: str(f.type) for f in table.schema} == STACK_COLUMNS
        for row in table.to_pylist():
            total += 1
            langs[row["lang"]] = langs.get(row["lang"], 0) + 1
            data = row["content"].encode()
            assert row["size"] == len(data)
            assert row["hexsha"] == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            assert row["licenses"] and row["licenses"] == row["max_stars_repo_licenses"]
            assert row["max_line_length"] == max(map(len, row["content"].splitlines() or [""]))
    assert 1500 <= total <= 2500
    assert len(TOP_LANGS & set(langs)) >= 10, langs
    assert {"Markdown", "HTML", "CSS"} <= set(langs)
    outside = {d["file"] for d in DEFECTS["stack_language_outside_top25"]}
    assert outside and all(f in tables for f in outside)


def test_stack_defect_locators_point_at_the_planted_rows():
    tables = {k: t.to_pylist() for k, t in _stack_tables().items()}
    by_sha = {}
    for rows in tables.values():
        for r in rows:
            by_sha.setdefault(r["hexsha"], []).append(r)
    for kind, locs in DEFECTS.items():
        for loc in locs:
            if loc["family"] == "stack":
                assert tables[loc["file"]][loc["row"]]["hexsha"] == loc["hexsha"], (kind, loc)
    for loc in DEFECTS["stack_exact_duplicate"]:
        assert len(by_sha[loc["of"]]) >= 2          # same content twice, in different files
        assert len({id(r) for r in by_sha[loc["of"]]}) >= 2
    for loc in DEFECTS["stack_near_duplicate"]:
        a, b = by_sha[loc["of"]][0]["content"], tables[loc["file"]][loc["row"]]["content"]
        sa, sb = (set(zip(*(x.split()[i:] for i in range(3)))) for x in (a, b))
        assert a != b and len(sa & sb) / len(sa | sb) > 0.6
    minified = [tables[d["file"]][d["row"]] for d in DEFECTS["stack_minified"]]
    assert minified and all(r["max_line_length"] >= 19_000 for r in minified)
    generated = [tables[d["file"]][d["row"]]["content"] for d in DEFECTS["stack_autogenerated"]]
    assert any("Generated by the protocol buffer compiler.  DO NOT EDIT!" in c for c in generated)


def test_slimpajama_rows_sets_and_defects():
    rows = _jsonl("slimpajama", "slimpajama_malformed")
    assert 1500 <= len(rows) <= 3000
    assert all(isinstance(r["text"], str) and r["meta"]["redpajama_set_name"] in SETS for r in rows)
    seen = {r["meta"]["redpajama_set_name"] for r in rows}
    assert {"RedPajamaGithub", "RedPajamaStackExchange"} <= seen and len(seen) == len(SETS)
    assert len(DEFECTS["slimpajama_malformed"]) == 2
    texts = {(d["file"], d["line"]): None for d in DEFECTS["slimpajama_exact_duplicate"]}
    for d in DEFECTS["slimpajama_exact_duplicate"]:
        of_file, of_line = d["of"].rsplit(":", 1)
        assert _lines(d["file"])[d["line"] - 1] == _lines(of_file)[int(of_line) - 1]
    assert texts
    langs = {d["detail"] for d in DEFECTS["slimpajama_non_english"]}
    assert langs == {"fr", "de", "es", "zh"}


def test_commits_schema():
    rows = _jsonl("commits", "commits_malformed_line")
    assert 300 <= len(rows) <= 600
    keys = {"commit", "old_file", "new_file", "old_contents", "new_contents", "subject", "message", "lang",
            "license", "repos"}
    for r in rows:
        assert set(r) == keys and r["old_contents"] != r["new_contents"] and r["subject"]
        assert r["message"].startswith(r["subject"])
    assert len(_malformed("commits_malformed_line")) == 2


def test_notebooks_parse_except_the_planted_broken_one():
    broken = {d["file"] for d in DEFECTS["notebooks_invalid_json"]}
    files = sorted((SAMPLE / "notebooks").glob("*.ipynb"))
    assert 10 <= len(files) <= 30
    with_markdown = 0
    for path in files:
        rel = str(path.relative_to(SAMPLE))
        if rel in broken:
            with pytest.raises(json.JSONDecodeError):
                json.loads(path.read_text())
            continue
        nb = json.loads(path.read_text())
        assert nb["nbformat"] == 4 and nb["cells"]
        kinds = {c["cell_type"] for c in nb["cells"]}
        assert "code" in kinds
        with_markdown += "markdown" in kinds
    assert with_markdown >= len(files) - 2
    rows = _jsonl("notebooks")
    assert rows and all(set(r) == {"path", "repo_name", "license", "content"} for r in rows)
    assert all(json.loads(r["content"])["nbformat"] == 4 for r in rows)


def test_stackexchange_threads_are_consistent():
    questions = 0
    for posts in sorted((SAMPLE / "stackexchange").glob("*/Posts.xml")):
        rows = [r.attrib for r in ET.parse(posts).getroot()]
        by_id = {r["Id"]: r for r in rows}
        for r in rows:
            if r["PostTypeId"] == "1":
                questions += 1
                assert r["Title"] and r["Body"] and r["Tags"].startswith("<python>")
                if "AcceptedAnswerId" in r:
                    assert by_id[r["AcceptedAnswerId"]]["ParentId"] == r["Id"]
            else:
                assert r["PostTypeId"] == "2" and r["Body"]
        orphans = {r["Id"] for r in rows if r["PostTypeId"] == "2" and r["ParentId"] not in by_id}
        planted = {str(d["post_id"]) for d in DEFECTS["stackexchange_orphan_answer"]
                   if d["file"] == str(posts.relative_to(SAMPLE))}
        assert orphans == planted
    assert 100 <= questions <= 400


def _run(problem: dict) -> str:
    """'pass' or the exception type name; never called on the non-terminating ones."""
    ns: dict = {}
    try:
        exec(compile(problem["solution"], "<solution>", "exec"), ns)
        exec(compile(problem["tests"], "<tests>", "exec"), ns)
    except Exception as e:  # noqa: BLE001 - the outcome is what we assert
        return type(e).__name__
    return "pass"


def test_synthetic_problems_pass_and_planted_failures_fail():
    rows = _jsonl("synthetic", "synthetic_malformed_line")
    assert 200 <= len(rows) <= 400
    assert all(set(r) == {"id", "prompt", "solution", "tests"} for r in rows)
    kinds = {d["id"]: k for k, locs in DEFECTS.items() if k.startswith("synthetic_") and k not in
             ("synthetic_exact_duplicate", "synthetic_malformed_line") for d in locs}
    expected = {"synthetic_wrong_answer": "AssertionError", "synthetic_raises": "NotImplementedError",
                "synthetic_syntax_error": "SyntaxError", "synthetic_humaneval_copy": "pass"}
    loops = [r for r in rows if kinds.get(r["id"]) == "synthetic_infinite_loop"]
    assert loops
    for r in rows:
        kind = kinds.get(r["id"])
        if kind != "synthetic_infinite_loop":
            assert _run(r) == expected.get(kind, "pass"), (r["id"], kind)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", loops[0]["solution"] + "\n" + loops[0]["tests"]], timeout=2)


def test_math_and_instruct_schemas():
    math_rows = _jsonl("math")
    assert 300 <= len(math_rows) <= 600
    assert all("text" in r or {"problem", "solution"} <= set(r) for r in math_rows)
    rows = _jsonl("instruct")
    assert 200 <= len(rows) <= 500
    schemas = set()
    for r in rows:
        if "messages" in r:
            assert all(set(m) == {"role", "content"} for m in r["messages"])
            schemas.add("messages")
        elif "instruction" in r:
            assert set(r) == {"instruction", "context", "response", "category"}
            schemas.add("dolly")
        else:
            assert set(r) == {"prompt", "response"}
            schemas.add("prompt_response")
    assert schemas == {"messages", "dolly", "prompt_response"}


def test_offline_families_regenerate_byte_identically(tmp_path):
    """synthetic/, math/, instruct/ need only the virtualenv: rebuild them and compare bytes."""
    out = subprocess.run([sys.executable, str(REPO / "data" / "make_sample.py"), "--check", "--offline"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    sys.path.insert(0, str(REPO / "data"))
    try:
        import make_sample
        from samplegen import inputs
        files = make_sample.build(inputs.Inputs(tmp_path / "no-downloads"), families=make_sample.OFFLINE_FAMILIES)
    finally:
        sys.path.remove(str(REPO / "data"))
    assert {rel.split("/")[0] for rel in files} == set(make_sample.OFFLINE_FAMILIES)
    make_sample.write(files, tmp_path / "out")
    for rel in files:
        assert (tmp_path / "out" / rel).read_bytes() == (SAMPLE / rel).read_bytes(), rel
