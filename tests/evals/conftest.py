"""One tiny trained checkpoint shared by the evals tests (tests/evals/tiny_run.py)."""
import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    from tests.evals.tiny_run import build

    return build(str(tmp_path_factory.mktemp("evals-run")))


@pytest.fixture(scope="session")
def loaded(tiny_run):
    from evals.checkpoint import load

    return load(tiny_run["run"])
