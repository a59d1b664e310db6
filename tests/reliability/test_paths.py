"""Paths and storage across stages: nothing reads or writes outside its roots because of a name in a
file, manifests are validated by every consumer before use, and an interrupted gs:// write never
leaves a manifest pointing at a missing shard.

tests/tokens/test_manifest.py covers parse_manifest itself; here the same bad manifests go
through the consumers (mixer build, the trainer's loader), and names taken from files or flags
(tokenize --sources, a mixture's init_from) try to leave their root.
"""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from pipelines import beam_files, tokenize
from tokens import paths
from tests.reliability.stages import curated_and_tokenizer, published_sources, tokenize_args


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    curated_and_tokenizer(root, per_source=6)
    tokenize.run(tokenize_args(root, root / "tokens", 2))
    return root


def _tamper(manifest_path, **changes):
    body = json.loads(manifest_path.read_text())
    for key, value in changes.items():
        if key == "shard0":
            body["shards"][0]["path"] = value
        else:
            body[key] = value
    manifest_path.write_text(json.dumps(body))


BAD_MANIFESTS = {
    "dotdot_shard": {"shard0": "../markup/part-00000-of-00002.array_record"},
    "absolute_shard": {"shard0": "/etc/passwd"},
    "url_shard": {"shard0": "gs://other-bucket/part-00000-of-00002.array_record"},
    "wrong_totals": {"tokens": 1},
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_mixer_build_refuses_a_bad_manifest(tokens, tmp_path, case, capsys):
    from mixer.cli import main as mixer_main

    data = tmp_path / "tokens"
    shutil.copytree(tokens / "tokens", data)
    _tamper(data / "code" / "manifest.json", **BAD_MANIFESTS[case])
    code = mixer_main(["build", "--weights", "code=0.5,text=0.5", "--data", str(data), "--tokens", "10K",
                       "--seq-len", "64", "--allow-repeat", "--output", str(tmp_path / "mix")])
    assert code != 0
    err = capsys.readouterr().err
    assert "code" in err and "manifest.json" in err, err
    assert not (tmp_path / "mix" / "mixture.json").exists()


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_trainer_loader_refuses_a_manifest_tampered_after_mixing(tokens, tmp_path, case):
    from mixer.cli import main as mixer_main
    from trainer import data as tdata

    data = tmp_path / "tokens"
    shutil.copytree(tokens / "tokens", data)
    assert mixer_main(["build", "--weights", "code=0.5,text=0.5", "--data", str(data), "--tokens", "10K",
                       "--seq-len", "64", "--allow-repeat", "--output", str(tmp_path / "mix")]) == 0
    mixture = json.loads((tmp_path / "mix" / "mixture.json").read_text())
    _tamper(data / "code" / "manifest.json", **BAD_MANIFESTS[case])
    readers = tdata.SourceReaders(mixture, str(tmp_path / "mix"))
    with pytest.raises(Exception) as err:
        readers.read(readers.names.index("code"), 0)
    assert "manifest.json" in str(err.value) and "passwd" not in repr(readers._open)


@pytest.mark.parametrize("name", ["../code", "..", "code/../../x", "/tmp/x"])
def test_tokenize_refuses_source_names_that_leave_the_output(tokens, tmp_path, name):
    out = tmp_path / "inner" / "tokens"
    with pytest.raises((FileNotFoundError, SystemExit, ValueError)):
        tokenize.run(tokenize_args(tokens, out, 2, "--sources", name))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [], written


@pytest.mark.parametrize("init_from", ["../../elsewhere", "/abs/run", "a/b", ".."])
def test_mixture_init_from_must_be_a_stage_name(tokens, tmp_path, init_from):
    """init_from is joined to the run directory's parent by the trainer: a path there would load
    weights from anywhere the mixture file says."""
    from mixer.cli import main as mixer_main
    from mixer.mixture import MixtureError, load_mixture

    assert mixer_main(["build", "--weights", "code=0.5,text=0.5", "--data", str(tokens / "tokens"),
                       "--tokens", "10K", "--seq-len", "64", "--allow-repeat", "--output", str(tmp_path / "mix")]) == 0
    path = tmp_path / "mix" / "mixture.json"
    body = json.loads(path.read_text())
    body.update(stage="continue", init_from=init_from)
    path.write_text(json.dumps(body))
    with pytest.raises(MixtureError, match="init_from"):
        load_mixture(str(path))


# ------------------------------------------------------------------------------- gs:// interruptions

def _upload_tree(local, remote):
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        paths.write_atomic(f"{remote}/{path.relative_to(local).as_posix()}", path.read_bytes())


@pytest.mark.gcs
def test_failed_gcs_rename_leaves_neither_file_nor_temporary(gcs_emulator, monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    base = f"gs://{gcs_emulator}/rename-{uuid.uuid4().hex[:8]}"
    paths.write_atomic(f"{base}/manifest.json", b"old")

    def broken_rename(*args, **kwargs):
        raise OSError("injected: rename failed")

    monkeypatch.setattr(FileSystems, "rename", broken_rename)
    with pytest.raises(OSError, match="injected"):
        beam_files.publish_stream(f"{base}/manifest.json", lambda f: f.write(b"new"))
    monkeypatch.undo()
    assert paths.open_read(f"{base}/manifest.json").read() == b"old"        # the old object is untouched
    assert beam_files.match(f"{base}/*") == [f"{base}/manifest.json"]             # no temporary left behind


@pytest.mark.gcs
def test_tokenize_to_gcs_interrupted_mid_upload_publishes_no_broken_manifest(tokens, gcs_emulator, monkeypatch):
    """A full run to gs://, then a rerun with another shard count whose 4th shard upload dies: every
    manifest left in the bucket must still describe shards that exist with its record counts."""
    from tokens import shards

    base = f"gs://{gcs_emulator}/interrupt-{uuid.uuid4().hex[:8]}"
    _upload_tree(tokens / "curated", f"{base}/curated")
    paths.write_atomic(f"{base}/tok/tokenizer.model", (tokens / "tok" / "tokenizer.model").read_bytes())
    args = ["--input", f"{base}/curated", "--tokenizer", f"{base}/tok/tokenizer.model", "--output", f"{base}/tokens"]
    tokenize.run(args + ["--num-shards", "2"])
    assert published_sources(f"{base}/tokens") and not any(published_sources(f"{base}/tokens").values())

    real, calls = shards.write_shard, []

    def dying_upload(path, records):
        calls.append(path)
        if len(calls) == 4:
            raise ConnectionError("injected: upload interrupted")
        return real(path, records)

    monkeypatch.setattr(shards, "write_shard", dying_upload)
    with pytest.raises(Exception, match="injected"):
        tokenize.run(args + ["--num-shards", "5"])
    monkeypatch.undo()
    state = published_sources(f"{base}/tokens")
    assert not {s: p for s, p in state.items() if p}, state
    # The rerun converges: every source published again, complete.
    tokenize.run(args + ["--num-shards", "5"])
    state = published_sources(f"{base}/tokens")
    assert set(state) == {"code", "markup", "text"} and not any(state.values()), state
