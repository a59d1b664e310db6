import sys

import pytest

from pipelines import launch


def _write(tmp_path, text):
    path = tmp_path / "dataflow.yaml"
    path.write_text(text)
    return str(path)


def test_example_config_loads_and_fills_every_common_option():
    cfg = launch.load_config("docs/dataflow.example.yaml")
    args = launch.beam_args(cfg, "curate")
    joined = " ".join(args)
    for flag in ("--runner=DataflowRunner", "--project=my-gcp-project", "--region=us-central1",
                 "--temp_location=gs://my-bucket/code-mixtures/temp",
                 "--staging_location=gs://my-bucket/code-mixtures/staging",
                 "--worker_machine_type=n2-highmem-8", "--max_num_workers=200",
                 "--experiments=use_runner_v2", "--sdk_container_image=", "--job_name=code-mixtures-curate"):
        assert flag in joined, flag
    assert "--setup_file" not in joined


def test_setup_file_is_used_without_a_container(tmp_path):
    cfg = launch.load_config(_write(tmp_path, "project: p\nbucket: gs://bkt\n"))
    assert "--setup_file=./setup.py" in launch.beam_args(cfg, "tokenize")


@pytest.mark.parametrize("text,message", [
    ("bucket: gs://bkt\n", "project"),
    ("project: p\nbucket: /local/dir\n", "bucket"),
    ("project: p\nbucket: gs://bkt\nworkers: 3\n", "unknown option"),
])
def test_bad_configs_are_refused_with_a_reason(tmp_path, text, message):
    with pytest.raises((ValueError, TypeError), match=message):
        launch.load_config(_write(tmp_path, text))


def test_print_only_shows_the_pasteable_command(tmp_path, capsys):
    path = _write(tmp_path, "project: p\nbucket: gs://bkt\n")
    assert launch.run(["--config", path, "--print-only", "curate", "--",
                       "--input", "gs://bkt/raw", "--output", "gs://bkt/curated"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(sys.executable) and "-m pipelines.curate --input gs://bkt/raw" in out
    assert "--runner=DataflowRunner" in out
