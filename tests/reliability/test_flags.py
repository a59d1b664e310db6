"""Issue 13.10: non-finite numbers never reach a check or a file, and CLI misuse is a clear error.

On 00f01f7 `mixer build --max-epochs nan` disabled the epoch refusal and wrote NaN into mixture.json
(not JSON); `mixer sample --tokenizer /etc/passwd` printed a traceback; `mixer sample -n 0` printed
nothing. Every float flag of every CLI now refuses NaN/inf with argparse's usage error (exit 2), every
JSON writer passes allow_nan=False (checked statically below), and the JSON readers refuse NaN too.
"""
from __future__ import annotations

import ast
import json
import pathlib

import pytest

from mixer.cli import main as mixer_main
from pipelines import tokenize
from tests.reliability.stages import curated_and_tokenizer, tokenize_args

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("flags")
    curated_and_tokenizer(root, per_source=4)
    tokenize.run(tokenize_args(root, root / "tokens", 1))
    return root


def _build(tokens, out, *extra) -> list[str]:
    return ["build", "--weights", "code=0.5,text=0.5", "--data", str(tokens / "tokens"), "--tokens", "10M",
            "--seq-len", "64", "--output", str(out), *extra]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_mixer_build_refuses_non_finite_max_epochs(tokens, tmp_path, value, capsys):
    """10M tokens from a few thousand: every source repeats far more than 4 epochs, which must be refused."""
    with pytest.raises(SystemExit) as exit_:
        mixer_main(_build(tokens, tmp_path / "mix", f"--max-epochs={value}"))
    assert exit_.value.code == 2 and "finite" in capsys.readouterr().err
    assert not (tmp_path / "mix" / "mixture.json").exists()


@pytest.mark.parametrize("argv", [
    ["build", "--code", "nan", "--data", "x"], ["build", "--code", "25", "--synth", "inf", "--data", "x"],
    ["build", "--code", "25", "--markup", "nan", "--data", "x"],
    ["build", "--code", "25", "--adjacent=-inf", "--data", "x"],
    ["sample", "m.json", "--tokenizer", "t", "-n", "0"], ["sample", "m.json", "--tokenizer", "t", "-n", "-1"],
])
def test_mixer_flags_refuse_non_finite_and_non_positive(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        mixer_main(argv)
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--assumed-mfu", "nan"], ["--set", "optim.lr=nan"], ["--set", "optim.lr=inf"],
                                  ["--set", "no_such_field=1"]])
def test_trainer_flags_refuse_non_finite(flag, tmp_path, capsys):
    from trainer.__main__ import main as trainer_main

    with pytest.raises(SystemExit) as exit_:
        trainer_main(["train", "--mixture", str(tmp_path / "missing.json"), "--config", "tiny",
                      "--workdir", str(tmp_path / "run"), *flag])
    assert exit_.value.code == 2 and "usage:" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_pipeline_flags_refuse_non_finite(tmp_path, capsys):
    from pipelines import curate, train_tokenizer

    missing = str(tmp_path / "missing")
    with pytest.raises(SystemExit) as exit_:
        curate.main(["--input", missing, "--output", str(tmp_path / "out"), "--threshold", "nan"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        train_tokenizer.run(["--input", missing, "--output", str(tmp_path / "tok"), "--min-source-share", "inf"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit, match="finite"):
        train_tokenizer.run(["--input", missing, "--output", str(tmp_path / "tok"), "--weights", "code=nan"])
    assert not (tmp_path / "out").exists() and not (tmp_path / "tok").exists()


def test_mixer_sample_reports_a_bad_tokenizer_clearly(tokens, tmp_path, capsys):
    assert mixer_main(_build(tokens, tmp_path / "mix", "--allow-repeat")) == 0
    mix = str(tmp_path / "mix" / "mixture.json")
    other = tmp_path / "other.model"
    from tests.pipelines.curated_sample import train_tokenizer as train_small

    other.write_bytes(train_small({"x": [{"text": "a different corpus entirely " * 40}]}, vocab=300))
    for path, words in (("/etc/passwd", "not the tokenizer"), (str(tmp_path / "absent.model"), "cannot read"),
                        (str(tmp_path), "cannot read"), (str(other), "not the tokenizer")):
        capsys.readouterr()
        assert mixer_main(["sample", mix, "--tokenizer", path, "-n", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mixer sample: error:") and words in err and "Traceback" not in err, err
    capsys.readouterr()
    assert mixer_main(["sample", mix, "--tokenizer", str(tokens / "tok" / "tokenizer.model"), "-n", "1"]) == 0
    assert capsys.readouterr().out.count("=== ") == 2


def test_json_readers_refuse_nan(tokens, tmp_path):
    from mixer.mixture import MixtureError, load_mixture
    from tokens.manifest import ManifestError, load_manifest

    assert mixer_main(_build(tokens, tmp_path / "mix", "--allow-repeat")) == 0
    path = tmp_path / "mix" / "mixture.json"
    path.write_text(path.read_text().replace('"max_epochs": 4.0', '"max_epochs": NaN'))
    with pytest.raises(MixtureError, match="NaN"):
        load_mixture(str(path))
    manifest = tmp_path / "manifest.json"
    body = (tokens / "tokens" / "code" / "manifest.json").read_text()
    manifest.write_text(body.replace('"length_histogram": {', '"length_histogram": {"nan": NaN, ', 1))
    with pytest.raises(ManifestError, match="NaN"):
        load_manifest(str(manifest))


def test_non_finite_values_written_as_strict_json(tmp_path):
    """A diverged loss and a NaN smuggled into document meta still give lines any JSON parser reads."""
    from pipelines.document import Document
    from trainer.metrics import MetricsWriter

    writer = MetricsWriter(str(tmp_path), tensorboard=False)
    writer.write({"kind": "train", "step": 1, "loss": float("nan"), "loss_per_source": {"code": float("inf")}})
    line = (tmp_path / "metrics.jsonl").read_text().strip()
    record = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in metrics.jsonl"))
    assert record["loss"] is None and record["non_finite"] == {"loss": "nan", "loss_per_source.code": "inf"}
    row = Document("d", "math", "text", {"score": float("nan"), "nested": [float("-inf")]}).to_row()
    assert json.loads(row["meta"], parse_constant=lambda name: pytest.fail(name)) == \
        {"nested": ["-inf"], "score": "nan"}


def _json_writes_without_allow_nan_false(path: pathlib.Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dump", "dumps")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "json"):
            flag = [k for k in node.keywords if k.arg == "allow_nan"]
            if not flag or not (isinstance(flag[0].value, ast.Constant) and flag[0].value.value is False):
                lines.append(node.lineno)
    return lines


# Not JSON output: a reader re-serialises a raw input line as the text of its rejected record
# (pipelines/sources is the readers' module; the excerpt is text, never parsed back as JSON).
NOT_JSON_OUTPUT = {"pipelines/sources/jsonl.py"}


def test_every_json_writer_refuses_nan():
    """Static: every json.dump/json.dumps in the project's code passes allow_nan=False."""
    offenders = {}
    for package in ("pipelines", "sandbox", "tokens", "mixer", "trainer", "benchmarks", "evals", "data"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found = _json_writes_without_allow_nan_false(path)
            if found and str(path.relative_to(ROOT)) not in NOT_JSON_OUTPUT:
                offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"json.dump(s) without allow_nan=False (add it: NaN is not JSON): {offenders}"
