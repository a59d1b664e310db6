"""Static checks of the Dataflow container (no Docker daemon here)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETUP = (ROOT / "setup.py").read_text()


def _stages():
    stages, current = {}, None
    for line in DOCKERFILE.splitlines():
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line.strip(), re.I)
        if m:
            current = m.group(2) or m.group(1)
            stages[current] = {"base": m.group(1), "lines": []}
        elif current:
            stages[current]["lines"].append(line.strip())
    return stages


def test_base_tag_matches_pinned_beam_version():
    beam = re.search(r'"apache-beam\[gcp\]>=([0-9.]+)"', SETUP).group(1)
    base = _stages()["dataflow"]["base"]
    assert base == f"apache/beam_python3.11_sdk:{beam}", (base, beam)


def test_project_installs_from_setup_py_in_every_stage():
    for name, stage in _stages().items():
        body = "\n".join(stage["lines"])
        assert "COPY setup.py" in body, name
        assert re.search(r"pip install [^\n]*(\.|\"\.\[train\]\")", body), name


def test_every_stage_ends_as_a_non_root_user():
    for name, stage in _stages().items():
        users = [l.split()[1] for l in stage["lines"] if l.upper().startswith("USER ")]
        assert users and users[-1] not in ("root", "0"), name


def test_no_secrets_baked_in():
    lowered = DOCKERFILE.lower()
    for needle in ("google_application_credentials", "service-account", ".json ", "api_key", "password",
                   "secret", "token="):
        assert needle not in lowered, needle
    copies = [l for l in DOCKERFILE.splitlines() if l.strip().upper().startswith(("COPY", "ADD"))]
    assert all(".git" not in l and "credentials" not in l.lower() for l in copies)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored



def test_the_workers_get_every_package_curate_imports():
    """`pip install .` in the image installs only what was COPY'd: curate needs pipelines, the token format
    and the sandbox (its synthetic verification), and the trainer needs the token format too."""
    needs = {"dataflow": ("sandbox", "tokens", "pipelines"), "trainer": ("tokens", "mixer", "trainer")}
    for name, stage in _stages().items():
        body = "\n".join(stage["lines"])
        for package in needs[name]:
            assert f"COPY {package}/ {package}/" in body, (name, package)
