import subprocess
import sys

from pipelines.sources.__main__ import run, summarize
from pipelines.sources import ReadLimits
from tests.pipelines.sources import corpus


def test_summary_counts(tmp_path):
    root = corpus.write_local(str(tmp_path))
    rows = summarize(root, ["stack", "slimpajama"], ReadLimits())
    by_source = {(r["family"], r["source"]): r for r in rows}
    assert by_source[("stack", "code")]["documents"] == 2 and by_source[("stack", "markup")]["documents"] == 1
    assert by_source[("stack", "code")]["rejected"] == 2
    assert by_source[("stack", "code")]["reasons"] == {"language_not_selected": 1, "license_not_permissive": 1}
    assert by_source[("slimpajama", "text")]["documents"] == 3 and by_source[("slimpajama", "text")]["files"] == 2


def test_cli_prints_table(tmp_path, capsys):
    root = corpus.write_local(str(tmp_path))
    assert run(["--input", root]) == 0
    out = capsys.readouterr().out
    assert "stackexchange" in out and "orphan_answer 1" in out and "malformed_json 1" in out


def test_cli_help_and_bad_family(tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "pipelines.sources", "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--input" in help_text and "--families" in help_text
    bad = subprocess.run([sys.executable, "-m", "pipelines.sources", "--input", str(tmp_path), "--families", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown families" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "pipelines.sources", "--input", str(tmp_path / "nope")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
