"""benchmarks.results: the shared CLI ending (sizes per mode, --quick never records) and atomic writes."""
from __future__ import annotations

import json

import pytest

from benchmarks import results

SIZES = (results.Size("--documents", "documents", 5000, 300), results.Size("--vocab-size", "pieces", 8192, 1024))


def _run_with(argv):
    calls = []

    def run(*values, record, quick):
        calls.append((values, record, quick))
    results.entry(run, "smoke", *SIZES)(argv)
    return calls[0]


def test_full_mode_records_with_full_sizes():
    assert _run_with([]) == ((5000, 8192), True, False)


def test_quick_never_records_and_uses_quick_sizes():
    assert _run_with(["--quick"]) == ((300, 1024), False, True)


def test_explicit_sizes_and_no_record():
    assert _run_with(["--documents", "7", "--vocab-size", "64", "--no-record"]) == ((7, 64), False, False)
    assert _run_with(["--quick", "--documents", "9"]) == ((9, 1024), False, True)


def test_help_names_defaults_and_program(capsys):
    with pytest.raises(SystemExit):
        results.cli("python -m benchmarks.x", "First line.\n\nMore.", "smoke", SIZES).parse_args(["--help"])
    out = capsys.readouterr().out
    assert "python -m benchmarks.x" in out and "default 5000; quick 300" in out and "--no-record" in out


def test_entry_takes_name_and_doc_from_the_module(capsys):
    from benchmarks import tokenize
    with pytest.raises(SystemExit):
        tokenize.main(["--help"])
    out = capsys.readouterr().out
    assert "python -m benchmarks.tokenize" in out and "default 20000; quick 400" in out


def test_merge_results_keeps_other_keys(tmp_path):
    path = str(tmp_path / "r.json")
    results.merge_results({"a": 1}, path)
    assert results.merge_results({"b": 2}, path) == {"a": 1, "b": 2}
    assert json.load(open(path)) == {"a": 1, "b": 2}
