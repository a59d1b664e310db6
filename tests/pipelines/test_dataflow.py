"""Every Beam stage translates for Dataflow through `pipelines.launch --dry-run`, offline.

The config names a container image (no sdist is built) and the paths are gs:// ones that
look real but cannot be reached: any listing, cleanup, report or manifest write under them
would hang or fail, so these tests also prove a dry run touches no storage.
"""
import os
import subprocess
import sys

import pytest

from pipelines import launch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = "us-central1-docker.pkg.dev/test-project/images/code-mixtures:0.1.0"
BUCKET = "gs://bucket-name/code-mixtures"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("dataflow") / "dataflow.yaml"
    path.write_text(f"project: test-project\nregion: europe-west4\nbucket: {BUCKET}\n"
                    f"worker_machine_type: n2-highmem-8\nmax_num_workers: 7\nsdk_container_image: {IMAGE}\n"
                    f"labels: [team=pretraining]\n")
    return str(path)


@pytest.fixture(scope="module")
def local_tokenizer(tmp_path_factory):
    """tokenize reads --tokenizer in the launcher (its sha256 goes into the job); a tiny real model."""
    from pipelines import train_tokenizer
    tmp = tmp_path_factory.mktemp("tok")
    sample = tmp / "sample.txt"
    sample.write_text("".join(f"def handler_{i}(value, count={i * 7919}):\n    return value * count + {i}\n"
                              f"The quick brown fox number {i} jumps over the lazy dog {i * 31}.\n"
                              for i in range(300)))
    model = tmp / "tokenizer.model"
    model.write_bytes(train_tokenizer.train(str(sample), train_tokenizer.TokenizerConfig(vocab_size=320)))
    return str(model)


def _stage_run(config, stage, job_args):
    """What `python -m pipelines.launch --config CFG --dry-run STAGE -- ARGS` runs, returning the summary."""
    import importlib
    cmd = launch.command(launch.load_config(config), stage, job_args) + ["--dry_run=True"]
    return importlib.import_module(launch.STAGES[stage]).run(cmd[3:])


def _check_options(info, stage):
    assert info["dry_run"] and info["runner"] == "DataflowRunner"
    assert info["runner_v2"] and info["sdk_container_image"] == IMAGE
    assert info["job_name"] == "code-mixtures-" + stage.replace("_", "-")
    assert (info["project"], info["region"]) == ("test-project", "europe-west4")
    job = info["job"]
    assert job is not None and job.proto.name == info["job_name"]
    envs = job.proto_pipeline.components.environments.values()
    assert any(IMAGE.encode() in env.payload for env in envs), "workers would not run our container"
    temp = job.google_cloud_options.temp_location
    assert temp.startswith(BUCKET + "/temp/"), temp


def _names(info):
    return {t.unique_name for t in info["job"].proto_pipeline.components.transforms.values()}


def test_curate_translates_without_touching_storage(config):
    info = _stage_run(config, "curate", ["--input", "gs://bucket-name/raw", "--output", "gs://bucket-name/curated",
                                         "--sources", "stack,synthetic,slimpajama", "--no_auth"])
    _check_options(info, "curate")
    steps = set(info["steps"])
    for family in ("stack", "synthetic", "slimpajama"):
        assert {f"List {family} files", f"Pass 1 {family}"} <= steps
    assert {"Merge fingerprints", "Dedup", "Merge items", "Pass 2"} <= steps
    assert "Pass 1 commits" not in steps and "ref_AppliedPTransform" not in " ".join(steps)
    names = _names(info)
    assert {"Dedup/Read candidates back", "Pass 2/Write item shards", "Pass 2/Publish shards"} <= names
    assert "Dedup/Union-find" in names   # near-duplicate components (--components rounds: label propagation)


def test_train_tokenizer_translates_the_sampling_job(config):
    info = _stage_run(config, "train_tokenizer", ["--input", "gs://bucket-name/curated", "--output",
                                                  "gs://bucket-name/tok", "--sources", "code,text", "--no_auth"])
    _check_options(info, "train_tokenizer")
    assert {"read curated", "sum per source", "keep rates", "sample by id hash", "write sample",
            "write rates"} <= set(info["steps"])
    names = _names(info)
    assert {"read curated/read kept code", "read curated/read kept text"} <= {
        "/".join(n.split("/")[:2]) for n in names}


def test_tokenize_translates_with_a_local_tokenizer(config, local_tokenizer):
    info = _stage_run(config, "tokenize", ["--input", "gs://bucket-name/curated", "--tokenizer", local_tokenizer,
                                           "--output", "gs://bucket-name/tokens", "--sources", "code,markup",
                                           "--num-shards", "4", "--no_auth"])
    _check_options(info, "tokenize")
    assert {"list work items", "held-out keys per item", "encode and spill", "candidate windows found elsewhere",
            "held-out documents", "plan shards", "write shard", "publish shards", "write manifest"} <= set(info["steps"])


@pytest.mark.parametrize("stage,args", [
    ("curate", ["--input", "gs://bucket-name/raw", "--output", "gs://bucket-name/curated"]),
    ("train_tokenizer", ["--input", "gs://bucket-name/curated", "--output", "gs://bucket-name/tok"]),
])
def test_dry_run_without_sources_is_refused_not_listed(config, stage, args):
    with pytest.raises(SystemExit, match="--sources"):
        _stage_run(config, stage, args + ["--no_auth"])


def test_launch_cli_dry_run_prints_the_graph(config):
    """The exact README command, as a user runs it (own process, no network)."""
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.launch", "--config", config, "--dry-run", "curate", "--",
         "--input", "gs://bucket-name/raw", "--output", "gs://bucket-name/curated", "--sources", "commits",
         "--no_auth"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "curate: dry run on DataflowRunner" in out.stdout and "nothing submitted" in out.stdout
    assert "  Pass 1 commits\n" in out.stdout and "  Pass 2\n" in out.stdout


# ---------------------------------------------------------------- README "Running on Google Cloud"

README_ENV = {"PROJECT": "test-project", "REGION": "europe-west4", "BUCKET": BUCKET, "IMAGE": IMAGE}


def _readme_commands(prefix):
    """The README section's commands starting with `prefix`, continuation lines joined, $VARS filled."""
    import re
    import shlex
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = text.split("## Running on Google Cloud", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, flags=re.S)
    commands = [" ".join(line.strip() for line in cmd.split("\\\n"))
                for block in blocks for cmd in re.split(r"(?<!\\)\n", block.replace("\\\n", "\\\n"))]
    out = []
    for cmd in commands:
        if cmd.startswith(prefix):
            cmd = re.sub(r"\$(\w+)", lambda m: README_ENV[m.group(1)], cmd)
            out.append(shlex.split(cmd)[3:])    # drop "python -m <module>"
    return out


def test_readme_launch_commands_translate(config, local_tokenizer, capsys):
    """Every `python -m pipelines.launch` line of the README, dry-run: what a dry run needs is added
    (--dry-run, --sources, --no_auth offline, a local tokenizer since it is read to hash it)."""
    commands = _readme_commands("python -m pipelines.launch")
    stages = [argv[argv.index("--config") + 2 if "--dry-run" not in argv else argv.index("--dry-run") + 1]
              for argv in commands]
    assert sorted(set(stages)) == ["curate", "tokenize", "train_tokenizer"], stages
    for argv in commands:
        argv = list(argv)
        argv[argv.index("--config") + 1] = config
        if "--dry-run" not in argv:
            argv.insert(argv.index("--config") + 2, "--dry-run")
        stage = argv[argv.index("--dry-run") + 1]
        if "--sources" not in argv:
            argv += ["--sources", "stack,commits" if stage == "curate" else "code,text"]
        if "--tokenizer" in argv:
            assert argv[argv.index("--tokenizer") + 1].startswith(BUCKET + "/")
            argv[argv.index("--tokenizer") + 1] = local_tokenizer
        assert launch.run(argv + ["--no_auth"]) == 0
        out = capsys.readouterr().out
        assert f"{stage}: dry run on DataflowRunner (job code-mixtures-{stage.replace('_', '-')}" in out
        assert f"image {IMAGE}" in out and "runner v2: True" in out


def test_readme_raw_curate_command_translates():
    from pipelines import curate
    (argv,) = _readme_commands("python -m pipelines.curate")
    info = curate.run(argv + ["--sources", "math", "--dry_run=True", "--no_auth"])
    assert info["runner_v2"] and info["sdk_container_image"] == IMAGE and info["project"] == "test-project"
    assert info["job"].google_cloud_options.staging_location.startswith(BUCKET + "/staging/")
    assert {"Pass 1 math", "Pass 2"} <= set(info["steps"])


def test_readme_mixer_commands_parse(monkeypatch):
    """The README's mixer lines are accepted by the real parser (building them is tests/mixer's job)."""
    from mixer import cli
    parsed = []
    monkeypatch.setattr(cli, "run_build", lambda args, argv: parsed.append(args) or 0)
    monkeypatch.setattr(cli, "run_inspect", lambda args: parsed.append(args) or 0)
    commands = _readme_commands("python -m mixer")
    assert [c[0] for c in commands] == ["build", "inspect"]
    for argv in commands:
        assert cli.main(argv) == 0
    assert parsed[0].preset == "balanced-to-text" and parsed[0].data == BUCKET + "/tokens"
    assert parsed[1].mixture == BUCKET + "/mix/balanced-to-text/pretrain/mixture.json"


def test_readme_tpu_commands_are_the_trainer_readme_ones():
    """The two copied TPU commands stay identical to trainer/README.md (whose CLI tests/trainer covers)."""
    import re
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = text.split("## Running on Google Cloud", 1)[1].split("\n## ", 1)[0]
    trainer_readme = " ".join(open(os.path.join(REPO, "trainer", "README.md"), encoding="utf-8").read().split())
    commands = [" ".join(c.split()) for c in re.findall(r"^gcloud compute tpus .*?(?=^gcloud|^```)", section,
                                                        flags=re.S | re.M)]
    assert len(commands) == 2
    for cmd in commands:
        assert cmd in trainer_readme, cmd
