"""File discovery under a family folder: recursive, literal paths, hidden names skipped, links kept inside ROOT."""
import os
import uuid

import pytest

from pipelines import beam_files
from tokens import paths
from pipelines.sources import FAMILIES, discover, parse_file


@pytest.mark.parametrize("relative,patterns,expected", [
    ("a.parquet", ("*.parquet",), True),
    ("data/python/train-00000-of-00002.parquet", ("*.parquet",), True),
    ("data/python/train.parquet.tmp", ("*.parquet",), False),
    ("cooking.stackexchange.com/Posts.xml", ("*/Posts.xml",), True),
    ("dumps/2024/cooking.stackexchange.com/Posts.xml", ("*/Posts.xml",), True),
    ("Posts.xml", ("*/Posts.xml",), False),                 # needs its site folder
    ("train/chunk1/example_train_0.jsonl.zst", ("*.jsonl.zst", "*.jsonl"), True),
    ("a[1].jsonl", ("*.jsonl",), True),                     # glob characters in a file name are just characters
])
def test_patterns_match_the_last_components(relative, patterns, expected):
    assert discover.matches(relative, patterns) is expected


def _touch(path, data=b"{}\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def test_listing_is_recursive_sorted_and_skips_hidden_names(tmp_path):
    root = str(tmp_path)
    for rel in ["math/b.jsonl", "math/a/z.jsonl", "math/a/notes.txt", "math/.cache/x.jsonl", "math/.hidden.jsonl",
                "math/deep/er/still.jsonl.gz"]:
        _touch(os.path.join(root, rel))
    listing = discover.list_family(root, "math", FAMILIES["math"].reader.PATTERNS)
    assert [os.path.relpath(p, root) for p in listing.files] == [
        "math/a/z.jsonl", "math/b.jsonl", "math/deep/er/still.jsonl.gz"]
    assert listing.unmatched == 1 and listing.problem() is None


def test_a_folder_with_files_but_no_match_names_itself_and_the_patterns(tmp_path):
    _touch(str(tmp_path / "stack" / "data" / "train.csv"))
    _touch(str(tmp_path / "stack" / "data" / "README.md"))
    problem = discover.list_family(str(tmp_path), "stack", FAMILIES["stack"].reader.PATTERNS).problem()
    assert str(tmp_path / "stack") in problem and "2 files" in problem and "*.parquet" in problem
    assert discover.list_family(str(tmp_path), "math", FAMILIES["math"].reader.PATTERNS).problem() is None        # no folder: nothing to say


def test_folder_aliases_and_loops_are_walked_once(tmp_path):
    _touch(str(tmp_path / "math" / "real" / "a.jsonl"))
    os.symlink(tmp_path / "math" / "real", tmp_path / "math" / "alias")       # same folder twice
    os.symlink(tmp_path / "math", tmp_path / "math" / "real" / "loop")        # a cycle
    listing = discover.list_family(str(tmp_path), "math", FAMILIES["math"].reader.PATTERNS)
    assert len(listing.files) == 1


def test_fifo_and_broken_link_are_rejected_without_blocking(tmp_path):
    os.makedirs(tmp_path / "math")
    os.mkfifo(tmp_path / "math" / "pipe.jsonl")
    os.symlink(tmp_path / "math" / "gone.jsonl", tmp_path / "math" / "broken.jsonl")
    listing = discover.list_family(str(tmp_path), "math", FAMILIES["math"].reader.PATTERNS)
    reasons = {os.path.basename(p): [r.reason for r in parse_file("math", p, root=str(tmp_path))]
               for p in listing.files}
    assert reasons == {"pipe.jsonl": ["not_a_regular_file"], "broken.jsonl": ["broken_symlink"]}


def test_link_swapped_after_listing_is_still_refused(tmp_path):
    """Listing saw a link inside ROOT; by the time the worker opens it, it points out: refused, unread."""
    _touch(str(tmp_path / "root" / "math" / "real.jsonl"), b'{"text": "inside"}\n')
    _touch(str(tmp_path / "outside.jsonl"), b'{"text": "outside secret"}\n')
    link = tmp_path / "root" / "math" / "link.jsonl"
    os.symlink(tmp_path / "root" / "math" / "real.jsonl", link)
    listing = discover.list_family(str(tmp_path / "root"), "math", FAMILIES["math"].reader.PATTERNS)
    assert str(link) in listing.files
    link.unlink()
    os.symlink(tmp_path / "outside.jsonl", link)
    records = list(parse_file("math", str(link), root=str(tmp_path / "root")))
    assert [(r.reason, r.text) for r in records] == [("symlink_outside_input", "")]


def test_family_folder_linked_from_outside_is_one_reject(tmp_path):
    _touch(str(tmp_path / "elsewhere" / "a.jsonl"))
    os.makedirs(tmp_path / "root")
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "math")
    listing = discover.list_family(str(tmp_path / "root"), "math", FAMILIES["math"].reader.PATTERNS)
    records = [r for p in listing.files for r in parse_file("math", p, root=str(tmp_path / "root"))]
    assert [(r.reason, r.meta["path"]) for r in records] == [("symlink_outside_input", "math")]


def test_escape_glob_is_literal_for_beam_match(tmp_path):
    for name in ["cur[1]", "cur1", "c*r", "cXr"]:
        _touch(str(tmp_path / name / "f.jsonl"))
    assert beam_files.match(beam_files.escape_glob(str(tmp_path / "cur[1]" / "f.jsonl"))) == [str(tmp_path / "cur[1]" / "f.jsonl")]
    assert beam_files.match(beam_files.escape_glob(str(tmp_path / "c*r")) + "/*") == [str(tmp_path / "c*r" / "f.jsonl")]
    assert paths.size(str(tmp_path / "cur[1]" / "f.jsonl")) == 3


@pytest.mark.gcs
def test_gcs_listing_is_recursive_and_literal(gcs_emulator):
    base = f"gs://{gcs_emulator}/disc-{uuid.uuid4().hex[:8]}"
    for rel in ["cur[1]/stack/data/python/a.parquet", "cur[1]/stack/data/.cache/b.parquet",
                "cur[1]/stack/notes.txt", "cur1/stack/c.parquet"]:
        paths.write_atomic(f"{base}/{rel}", b"x")
    listing = discover.list_family(f"{base}/cur[1]", "stack", FAMILIES["stack"].reader.PATTERNS)
    assert listing.files == (f"{base}/cur[1]/stack/data/python/a.parquet",)
    assert listing.unmatched == 1


_AS_NOBODY = r"""
import json, os, sys
from pipelines import beam_files
from tokens import paths
from pipelines.sources import family_files, parse_file
root = sys.argv[1]
os.setgid(65534); os.setuid(65534)   # as in production, a non-root user (imports done: the venv may sit under /root)
print(json.dumps(sorted((os.path.basename(p), r.reason if hasattr(r, "reason") else r.text)
                        for p in family_files("math", root) for r in parse_file("math", p, root=root))))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a root-only file and drop to nobody")
def test_non_root_worker_refuses_a_link_to_a_root_only_file(tmp_path):
    """As a non-root user the link is refused by the rule (not an `error: PermissionError`), and a
    readable file next to it is still read."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile
    base = tempfile.mkdtemp(dir="/tmp")   # tmp_path's parents are 0700: nobody could not enter them
    try:
        os.chmod(base, 0o755)
        secret = os.path.join(base, "secret.jsonl")
        _touch(secret, b'{"text": "root only"}\n')
        os.chmod(secret, 0o600)
        root = os.path.join(base, "root")
        _touch(os.path.join(root, "math", "ok.jsonl"), b'{"text": "public"}\n')
        for d in (root, os.path.join(root, "math")):
            os.chmod(d, 0o755)
        os.chmod(os.path.join(root, "math", "ok.jsonl"), 0o644)
        os.symlink(secret, os.path.join(root, "math", "secret.jsonl"))
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        out = subprocess.run([sys.executable, "-c", _AS_NOBODY, root], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": repo}, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout) == [["ok.jsonl", "public"], ["secret.jsonl", "symlink_outside_input"]]
    finally:
        shutil.rmtree(base)
