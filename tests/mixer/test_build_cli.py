"""`python -m mixer build` end to end on fixture manifests: output files, refusals, warnings."""
import json
import os

import pytest

from mixer.mixture import load_mixture, mixture_hash
from tests.mixer.fixtures import SMALL, run_mixer, run_mixer_subprocess, write_manifest, write_manifests


@pytest.fixture()
def tokens(tmp_path):
    return write_manifests(str(tmp_path / "TOKENS"))


def test_build_code_25_synth_10(tmp_path, tokens):
    out = tmp_path / "MIX"
    result = run_mixer_subprocess("build", "--code", "25", "--synth", "10", "--data", tokens, "--tokens", "200K",
                       "--output", str(out), "--seed", "3", "--seq-len", "64")
    assert result.returncode == 0, result.stderr
    for line in ("text", "code", "synthetic"):
        assert any(row.split()[:1] == [line] for row in result.stdout.splitlines())
    mixture = json.loads((out / "mixture.json").read_text())
    assert mixture["name"] == "code-25-synth-10" and mixture["stage"] == "pretrain" and mixture["seed"] == 3
    assert {n: e["target_tokens"] for n, e in mixture["sources"].items()} == \
        {"text": 150_000, "code": 45_000, "synthetic": 5_000}
    assert {n: e["weight"] for n, e in mixture["sources"].items()} == {"text": 0.75, "code": 0.225, "synthetic": 0.025}
    text = mixture["sources"]["text"]
    assert text["available_tokens"] == SMALL["text"][1] and text["documents"] == SMALL["text"][0]
    assert text["epochs"] == pytest.approx(150_000 / 600_000)
    assert text["manifest"] == os.path.join("..", "TOKENS", "text", "manifest.json")     # relative to the file
    assert text["shards"] == [os.path.join("..", "TOKENS", "text", f"part-0000{i}-of-00002.array_record")
                              for i in (0, 1)]
    loaded = load_mixture(str(out / "mixture.json"), check_shards=False)["sources"]["text"]   # resolved
    assert loaded["manifest"] == os.path.join(tokens, "text", "manifest.json")
    assert loaded["shards"] == [os.path.join(tokens, "text", f"part-0000{i}-of-00002.array_record") for i in (0, 1)]
    assert mixture["command"].startswith("python -m mixer build --code 25 --synth 10")
    assert mixture["max_epochs"] == 4 and mixture["warnings"] == []
    maxtext = json.loads((out / "maxtext_mixture.json").read_text())
    assert maxtext == {n: {"path": os.path.join(tokens, n, "part-*.array_record"), "weight": e["weight"]}
                       for n, e in mixture["sources"].items()}
    assert load_mixture(str(out / "mixture.json"), check_shards=False)["name"] == "code-25-synth-10"


def test_without_output_prints_json_and_writes_nothing(tmp_path, tokens):
    result = run_mixer("build", "--code", "50", "--data", tokens, "--tokens", "10K")
    assert result.returncode == 0, result.stderr
    mixture = json.loads(result.stdout)
    assert {n: e["target_tokens"] for n, e in mixture["sources"].items()} == {"text": 5000, "code": 5000}
    assert "text" in result.stderr            # the table goes to stderr so stdout stays JSON
    assert sorted(os.listdir(tmp_path)) == ["TOKENS"]


def test_build_is_deterministic(tmp_path, tokens):
    a, b = tmp_path / "A", tmp_path / "B"
    for out in (a, b):
        assert run_mixer("build", "--code", "25", "--adjacent", "15", "--data", tokens, "--tokens", "100K",
                         "--output", str(out)).returncode == 0
    ma, mb = (json.loads((d / "mixture.json").read_text()) for d in (a, b))
    assert mixture_hash(ma) == mixture_hash(mb)
    adjacent = {n: ma["sources"][n]["target_tokens"] for n in ("commits", "notebooks", "stackexchange")}
    assert sum(adjacent.values()) == round(100_000 * 0.25 * 0.15)
    assert adjacent["stackexchange"] > adjacent["commits"] > adjacent["notebooks"]   # 60K > 30K > 10K available


def test_weights_and_stage_defaults(tmp_path, tokens):
    result = run_mixer("build", "--weights", "text=2,math=1,instruct=1", "--stage", "cooldown", "--data", tokens,
                       "--tokens", "40K", "--init-from", "pretrain", "--allow-repeat")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["schedule"]["kind"] == "linear" and m["schedule"]["final_lr"] == 1e-6 and m["init_from"] == "pretrain"
    assert {n: e["weight"] for n, e in m["sources"].items()} == {"text": 0.5, "math": 0.25, "instruct": 0.25}


def _refused(tmp_path, result, message):
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "MIX").exists()


@pytest.mark.parametrize("flags,message", [
    (["--code", "120"], "--code 120.0: a share cannot be over 100%"),
    (["--code", "-1"], "--code -1.0: a share cannot be negative"),
    (["--code", "50", "--synth", "70", "--markup", "40"], "= 110% of the code share: over 100%"),
    (["--weights", "text=1,code=-2"], "weight must be a finite number >= 0"),
    (["--preset", "code-25", "--synth", "10"], "--synth does not combine with --preset"),
])
def test_refuses_bad_shares(tmp_path, tokens, flags, message):
    _refused(tmp_path, run_mixer("build", *flags, "--data", tokens, "--output", str(tmp_path / "MIX")), message)


def test_refuses_missing_source(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"), {"text": (10, 1000), "code": (10, 1000)})
    result = run_mixer("build", "--code", "25", "--synth", "10", "--data", tokens, "--tokens", "100",
                       "--output", str(tmp_path / "MIX"))
    _refused(tmp_path, result, "source 'synthetic' is requested (2.5% of code-25-synth-10) but "
             f"{os.path.join(tokens, 'synthetic', 'manifest.json')} does not exist")


def test_refuses_zero_token_source(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"), {"text": (10, 1000), "code": (0, 0)})
    result = run_mixer("build", "--code", "50", "--data", tokens, "--tokens", "100", "--output", str(tmp_path / "MIX"))
    _refused(tmp_path, result, "source 'code' is requested (50% of code-50) but its manifest has zero tokens")


def test_refuses_mixed_tokenizers_naming_both(tmp_path):
    tokens = str(tmp_path / "TOKENS")
    write_manifest(tokens, "text", 10, 1000, sha="a" * 64)
    write_manifest(tokens, "code", 10, 1000, sha="b" * 64)
    result = run_mixer_subprocess("build", "--code", "50", "--data", tokens, "--tokens", "100", "--output", str(tmp_path / "MIX"))
    _refused(tmp_path, result, "manifests come from different tokenizers: 'code' (sha256 bbbbbbbbbbbb, vocab 512) "
             "and 'text' (sha256 aaaaaaaaaaaa, vocab 512)")


def test_refuses_a_bad_stage_of_a_recipe_and_writes_no_stage(tmp_path):
    # text-only: pretrain fits in 4 epochs, but the cooldown needs math/instruct that are missing.
    tokens = write_manifests(str(tmp_path / "TOKENS"), {"text": (10, 10**6), "code": (10, 10**6)})
    result = run_mixer("build", "--preset", "text-only", "--data", tokens, "--tokens", "100K",
                       "--output", str(tmp_path / "MIX"))
    _refused(tmp_path, result, "source 'instruct' is requested (15% of text-only-cooldown)")


def test_refuses_too_many_epochs_then_warns_with_allow_repeat(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"), {"text": (10, 1000), "code": (10, 10**6)})
    args = ["build", "--code", "50", "--data", tokens, "--tokens", "12K", "--output", str(tmp_path / "MIX")]
    _refused(tmp_path, run_mixer(*args), "source 'text' would repeat 6.00 epochs in code-50 (6K target, 1K "
             "available), over --max-epochs 4")
    result = run_mixer(*args, "--allow-repeat")
    assert result.returncode == 0, result.stderr
    assert "WARNING: source 'text' repeats 6.00 epochs" in result.stderr
    mixture = json.loads((tmp_path / "MIX" / "mixture.json").read_text())
    assert mixture["warnings"] and "6.00 epochs" in mixture["warnings"][0]
    assert mixture["sources"]["text"]["epochs"] == 6.0


def test_warns_between_4_epochs_and_max_epochs(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"), {"text": (10, 1000), "code": (10, 10**6)})
    result = run_mixer("build", "--code", "50", "--data", tokens, "--tokens", "10K", "--max-epochs", "8")
    assert result.returncode == 0, result.stderr
    assert "WARNING: source 'text' repeats 5.00 epochs" in result.stderr
    ok = run_mixer("build", "--code", "50", "--data", tokens, "--tokens", "8K")
    assert ok.returncode == 0 and "WARNING" not in ok.stderr    # exactly 4 epochs: no warning


def test_help_explains_units():
    result = run_mixer("build", "--help")
    assert result.returncode == 0
    for phrase in ("K/M/B/T", "percent of the token budget", "percent of the code share", "--max-epochs"):
        assert phrase in result.stdout
