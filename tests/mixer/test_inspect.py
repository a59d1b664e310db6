"""`mixer inspect` (table, --check, --plot) and `mixer sample` on a real tokenized corpus."""
import os

import pytest

from tests.mixer.fixtures import run_mixer, run_mixer_subprocess, write_corpus, write_manifests


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    tokens, model = write_corpus(str(root))
    mix = root / "MIX"
    result = run_mixer("build", "--code", "50", "--data", tokens, "--tokens", "200", "--output", str(mix))
    assert result.returncode == 0, result.stderr
    return tokens, model, str(mix / "mixture.json")


def test_inspect_prints_the_table_and_checks_shards(corpus):
    _, _, mixture = corpus
    result = run_mixer("inspect", mixture, "--check", "--verify-tokens")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "code-50  stage=pretrain" in result.stdout
    assert "check: ok (2 sources, 4 shards)" in result.stdout


def test_check_fails_when_a_shard_changes(tmp_path, corpus):
    tokens, model, _ = corpus
    root = tmp_path / "copy"
    tokens, _ = write_corpus(str(root), documents=8)
    mix = root / "MIX"
    assert run_mixer("build", "--code", "50", "--data", tokens, "--tokens", "100", "--output", str(mix)).returncode == 0
    # the source is re-tokenized with fewer documents after the mixture was built
    write_corpus(str(root), documents=6)
    result = run_mixer("inspect", str(mix / "mixture.json"), "--check")
    assert result.returncode == 1
    assert "CHECK FAILED: code: documents is 6 in the manifest, 8 in the mixture" in result.stdout
    os.remove(os.path.join(tokens, "text", "part-00001-of-00002.array_record"))
    result = run_mixer("inspect", str(mix / "mixture.json"), "--check")
    assert "CHECK FAILED: text:" in result.stdout and "part-00001-of-00002" in result.stdout


def test_plot_of_a_recipe_draws_every_stage(tmp_path):
    tokens = write_manifests(str(tmp_path / "TOKENS"))
    mix = tmp_path / "MIX"
    assert run_mixer("build", "--preset", "balanced-synth-to-text", "--data", tokens, "--tokens", "100K",
                     "--output", str(mix)).returncode == 0
    png = tmp_path / "plot.png"
    result = run_mixer("inspect", str(mix / "recipe.json"), "--plot", str(png))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("stage=") == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_sample_decodes_documents_per_source(corpus):
    _, model, mixture = corpus
    result = run_mixer_subprocess("sample", mixture, "-n", "2", "--tokenizer", model, "--max-chars", "40")
    assert result.returncode == 0, result.stderr
    headers = [line for line in result.stdout.splitlines() if line.startswith("=== ")]
    assert [h.split()[1] for h in headers] == ["code", "code", "text", "text"]
    assert "def " in result.stdout or "class " in result.stdout or "for i" in result.stdout
    assert "the " in result.stdout or "a quiet" in result.stdout
