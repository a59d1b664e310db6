"""The docs stand alone: every repo-relative file that a Markdown file, a docstring or a comment names exists.

Checked: paths under a top-level folder of the repository (`docs/paper.md`, `pipelines/sinks.py`,
`pipelines/filters/gopher_*_jit.py` as a glob), bare capitalised Markdown names (`DESIGN.md`, which
must exist somewhere in the repo) and relative Markdown links. Names of files a job writes
(`report.md`, `mixture.json`) are not repo files and have no folder prefix, so they are not checked.
"""
from __future__ import annotations

import io
import pathlib
import re
import subprocess
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP = ("pipelines", "tokens", "mixer", "trainer", "evals", "docs", "tests", "benchmarks", "data", ".ci")
EXTENSIONS = r"(?:md|py|txt|json|jsonl|yaml|yml|toml|cfg|ini|sh|csv|png|proto|model)"
REPO_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(re.escape(t) for t in TOP)})/[\w.*/-]*\.{EXTENSIONS}(?:\.(?:zst|gz|bz2|xz))?)(?![\w/])")
BARE_DOC = re.compile(r"(?<![\w./-])([A-Z][A-Z_]+\.md)\b")
HISTORY_AFTER = re.compile(r"\s+at\s+(?:commit\s+)?(?:[0-9a-f]{7,40}\b|\{?BASELINE\b)")
HISTORY_BEFORE = re.compile(r"(?:\b[0-9a-f]{7,40}|\{BASELINE\}):$")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _tracked() -> list[pathlib.Path]:
    """Files git tracks, plus new ones not ignored (what a fresh clone of this tree would hold); outside a
    git checkout (an unpacked archive), every file but build output and virtual environments."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", "demo_out"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def _python_prose(path: pathlib.Path) -> str:
    """Docstrings, comments and other string literals of a Python file (where file names are cited)."""
    source = path.read_text(encoding="utf-8")
    return "\n".join(tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                     if tok.type in (tokenize.COMMENT, tokenize.STRING))


def missing_references(text: str, where: pathlib.Path, names: set[str]) -> list[str]:
    """References in `text` (found in file `where`) to repo files that do not exist."""
    missing = []
    for found in REPO_PATH.finditer(text):
        ref = found.group(1)
        if HISTORY_AFTER.match(text, found.end()) or HISTORY_BEFORE.search(text[max(0, found.start() - 42):found.start()]):
            continue   # a file as it was at a commit (`git show COMMIT:PATH`), not a file of this tree
        if not (any(ROOT.glob(ref)) if "*" in ref else (ROOT / ref).exists()):
            missing.append(ref)
    missing += [name for name in BARE_DOC.findall(text) if name not in names]
    if where.suffix == ".md":
        for link in LINK.findall(text):
            if "://" not in link and not link.startswith("mailto:") and not (where.parent / link).exists():
                missing.append(link)
    return missing


def test_every_named_repo_file_exists():
    files = _tracked()
    names = {p.name for p in files}
    problems = {}
    for path in files:
        if path == pathlib.Path(__file__).resolve():
            continue   # its own examples name missing files on purpose
        if path.suffix == ".md":
            text = path.read_text(encoding="utf-8")
        elif path.suffix == ".py" or path.name in ("Makefile", "Dockerfile", "run"):
            text = _python_prose(path) if path.suffix == ".py" else path.read_text(encoding="utf-8")
        else:
            continue
        found = missing_references(text, path, names)
        if found:
            problems[str(path.relative_to(ROOT))] = sorted(set(found))
    assert not problems, f"references to files that are not in the repository: {problems}"


@pytest.mark.parametrize("text,expected", [
    ("see DESIGN.md section 3", ["DESIGN.md"]),
    ("the plan (mixer/plan.py) says", ["mixer/plan.py"]),
    ("contract in docs/contracts.md.", ["docs/contracts.md"]),
    ("[paper](docs/nowhere.md)", ["docs/nowhere.md", "docs/nowhere.md"]),
    ("pipelines/sinks.py, README.md, pipelines/filters/gopher_*_jit.py, report.md, out/mixture.json", []),
    ("data/sample/slimpajama/*.jsonl.zst and data/sample/slimpajama/*.jsonl.gz", ["data/sample/slimpajama/*.jsonl.gz"]),
    ("pipelines/sandbox.py at 00f01f7, git show 00f01f7:pipelines/sandbox.py", []),
])
def test_missing_references_finds_what_is_absent(text, expected):
    names = {p.name for p in _tracked()}
    assert missing_references(text, ROOT / "README.md", names) == expected
