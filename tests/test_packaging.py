"""`pip install .` is how Dataflow workers (--setup_file) and the container get the code."""
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, cwd=out)
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def test_wheel_carries_every_package_and_no_tests(wheel):
    names = wheel.namelist()
    for module in ("sandbox/execution.py", "sandbox/harness.py", "pipelines/verify/synthetic.py", "pipelines/curate.py", "pipelines/document.py", "tokens/manifest.py", "tokens/proto/example_pb2.py",
                   "tokens/proto/sentencepiece_model_pb2.py",
                   "pipelines/sources/__init__.py", "mixer/__init__.py", "trainer/__init__.py"):
        assert module in names, module
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "data/"))]


def test_wheel_declares_the_pinned_dependencies(wheel):
    (meta,) = [n for n in wheel.namelist() if n.endswith("METADATA")]
    text = wheel.read(meta).decode()
    for dep in ("apache-beam[gcp]>=", "fasttext-numpy2>=", "sentencepiece>=",
                "array-record>=", "pyarrow>=", "google-cloud-storage>=", "google-crc32c>="):
        assert f"Requires-Dist: {dep}" in text, dep
    assert "jax>=" in text and 'extra == "train"' in text
    runtime = [line for line in text.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    names = [line.split()[1].split(">")[0].split("[")[0].split("<")[0] for line in runtime]
    assert len(names) == len(set(names)), f"a runtime dependency is listed twice: {names}"
    # Only tests and benchmarks compare against datasketch: workers do not install it.
    assert not [n for n in names if n == "datasketch"]
    assert any(line.startswith("Requires-Dist: datasketch>=") and 'extra == "test"' in line
               for line in text.splitlines())


@pytest.mark.slow
def test_pip_install_in_a_clean_venv(tmp_path):
    """The dynamic proxy for `docker build`: a fresh venv installs the project from setup.py."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True, timeout=1500)
    subprocess.run([str(py), "-c", "import pipelines.curate, pipelines.tokenize, mixer.sampling_plan"],
                   check=True, cwd=tmp_path)
