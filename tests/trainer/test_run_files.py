"""A run and its mixture are self-contained: built with relative paths, moved, used from elsewhere.

Defect 9: mixture.json recorded manifest paths relative to the build command's working directory and the
run found its tokenizer only through them, so `mixer inspect --check` of a copied mixture and
`evals heldout --checkpoint` started from another directory failed.
"""
import os
import shutil
import subprocess
import sys

import pytest

from tests.evals.tiny_run import OVERRIDES, SEQ_LEN
from tests.pipelines.curated_sample import documents, train_tokenizer
from tests.trainer.corpus import write_source

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_a_moved_run_and_mixture_work_from_any_directory(tmp_path):
    from tokens.tokenizer import Tokenizer

    old = tmp_path / "old place"                      # a space on purpose
    old.mkdir()
    docs = documents(per_source=6)
    (old / "tokenizer.model").write_bytes(train_tokenizer(docs, 640))
    tok = Tokenizer.load(str(old / "tokenizer.model"))
    entry = {"sha256": tok.sha256, "vocab_size": tok.vocab_size, "eos_id": tok.eos_id, "pad_id": tok.pad_id,
             "path": "tokenizer.model"}                # relative to the working directory, as the demo records it
    for source in ("code", "text"):
        ids = [tok.encode(r["text"][:1500]) + [tok.eos_id] for r in docs[source] if r["text"]]
        write_source(str(old / "tokens"), source, ids[:-5], tokenizer=entry, heldout=ids[-5:])
    _run(["mixer", "build", "--code", "50", "--data", "tokens", "--tokens", str(4 * SEQ_LEN * 3), "--seq-len",
          str(SEQ_LEN), "--output", "mix"], cwd=old)
    sets = [x for key, value in OVERRIDES for x in ("--set", f"{key}={value}")]
    _run(["trainer", "train", "--mixture", "mix/mixture.json", "--config", "tiny", "--workdir", "run",
          "--steps", "2", *sets], cwd=old)

    new = tmp_path / "elsewhere" / "copy"
    new.parent.mkdir()
    shutil.copytree(old, new)
    shutil.rmtree(old)                                 # nothing may still point at the old place
    other = tmp_path / "some other cwd"
    other.mkdir()
    _run(["mixer", "inspect", str(new / "mix" / "mixture.json"), "--check"], cwd=other)
    table = _run(["evals", "heldout", "--checkpoint", str(new / "run"), "--data", str(new / "tokens")], cwd=other)
    rows = [line.split() for line in table.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["code", "text"] and all(r[-2] == "5" for r in rows)
    assert (new / "run" / "tokenizer.model").read_bytes() == (new / "tokenizer.model").read_bytes()
