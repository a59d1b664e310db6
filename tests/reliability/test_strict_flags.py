"""Issue 21: a mistyped flag is a usage error (exit 2) with a "did you mean" hint, in every job.

On 17a5377 `python -m pipelines.curate ... --treshold 0.9` was handed to Beam, which logged "Discarding
unparseable args", and the job ran with the default threshold 0.7. The Beam jobs now check what they do not
parse against the flags Beam's PipelineOptions declare (pipelines/options.py), so runner flags still pass.
"""
from __future__ import annotations

import pytest

from pipelines.options import beam_flags, split_args
from tokens.flags import StrictArgumentParser


def _curate(argv):
    from pipelines import curate
    return curate.main(argv)


def _tokenize(argv):
    from pipelines import tokenize
    return tokenize.run(argv)


def _train_tokenizer(argv):
    from pipelines import train_tokenizer
    return train_tokenizer.run(argv)


def _mixer(argv):
    from mixer.cli import main
    return main(argv)


def _trainer(argv):
    from trainer.__main__ import main
    return main(argv)


def _evals(argv):
    from evals.cli import main
    return main(argv)


# (job, a valid command line, the typo, the flag the hint must name)
CASES = [
    ("curate", _curate, ["--input", "in", "--output", "out"], "--treshold", "--threshold"),
    ("tokenize", _tokenize, ["--input", "in", "--tokenizer", "t.model", "--output", "out"], "--treshold",
     None),
    ("tokenize", _tokenize, ["--input", "in", "--tokenizer", "t.model", "--output", "out"], "--num-shard",
     "--num-shards"),
    ("train_tokenizer", _train_tokenizer, ["--input", "in", "--output", "out"], "--vocab_size", "--vocab-size"),
    ("mixer build", _mixer, ["build", "--code", "25", "--data", "d"], "--seq_len", "--seq-len"),
    ("mixer inspect", _mixer, ["inspect", "m.json"], "--chek", "--check"),
    ("mixer sample", _mixer, ["sample", "m.json", "--tokenizer", "t"], "--max-char", "--max-chars"),
    ("trainer train", _trainer, ["train", "--config", "tiny", "--dry-run", "--tokens", "1M"], "--step", "--steps"),
    ("evals code", _evals, ["code", "--checkpoint", "run"], "--temprature", "--temperature"),
    ("evals heldout", _evals, ["heldout", "--checkpoint", "run", "--data", "d"], "--max-token", "--max-tokens"),
    ("evals sweep", _evals, ["sweep", "--recipes", "code-0", "--data", "d", "--config", "tiny",
                             "--tokens", "1M", "--output", "exp"], "--seed", "--seeds"),
    ("evals evaluate", _evals, ["evaluate", "--checkpoint", "run", "--data", "d", "--output", "r.json", "--recipe", "r",
                                 "--seed", "0"],
     "--humaneval_limit", "--humaneval-limit"),
    ("evals compare", _evals, ["compare", "exp"], "--treshold", None),
]


@pytest.mark.parametrize("job,main,argv,typo,hint", CASES, ids=[f"{c[0]} {c[3]}" for c in CASES])
def test_typo_is_refused_with_a_hint(job, main, argv, typo, hint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)   # nothing may be written: the command line is refused before any work
    with pytest.raises(SystemExit) as exit_:
        main([*argv, typo, "1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert f"unrecognized arguments: {typo}" in err
    if hint:
        assert f"did you mean {hint}?" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("main", [_curate, _tokenize, _train_tokenizer, _mixer, _trainer, _evals])
def test_treshold_fails_everywhere(main, tmp_path, monkeypatch, capsys):
    """The issue's example, in every job: exit 2 naming the typo (and curate's --threshold)."""
    monkeypatch.chdir(tmp_path)
    argv = {_mixer: ["build", "--code", "25", "--data", "d"], _trainer: ["train", "--config", "tiny"],
            _evals: ["compare", "exp"]}.get(main, ["--input", "in", "--output", "out", "--tokenizer", "t"])
    if main is _curate or main is _train_tokenizer:
        argv = ["--input", "in", "--output", "out"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--treshold", "0.9"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--treshold" in err
    if main is _curate:
        assert "did you mean --threshold?" in err


def test_a_prefix_is_not_taken_for_the_flag(capsys):
    """argparse's abbreviations would read --thresh as --threshold: a half-typed flag must be spelt out."""
    from pipelines import curate
    with pytest.raises(SystemExit) as exit_:
        curate.parse_args(["--input", "in", "--output", "out", "--thresh", "0.9"])
    assert exit_.value.code == 2 and "did you mean --threshold?" in capsys.readouterr().err


def test_beam_runner_flags_pass_through():
    from pipelines import curate
    runner = ["--runner", "DataflowRunner", "--project", "p", "--region", "europe-west4",
              "--temp_location", "gs://b/tmp", "--setup_file", "./setup.py", "--sdk_container_image", "img:1",
              "--direct_num_workers=2", "--dry_run=True", "--save_main_session", "--experiments=a,b"]
    args, rest = curate.parse_args(["--input", "in", "--output", "out", "--threshold", "0.9", *runner])
    assert args.threshold == 0.9 and rest == runner


def test_beam_options_declared_by_a_subclass_pass(capsys):
    """A PipelineOptions subclass (a runner's, or the project's own) is known the way Beam knows it."""
    from apache_beam.options.pipeline_options import PipelineOptions

    class _DrillOptions(PipelineOptions):
        @classmethod
        def _add_argparse_args(cls, parser):
            parser.add_argument("--drill_level", type=int, default=0)

    assert "--drill_level" in beam_flags()
    parser = StrictArgumentParser(prog="job")
    parser.add_argument("--input")
    args, rest = split_args(parser, ["--input", "x", "--drill_level", "3"])
    assert rest == ["--drill_level", "3"]
    with pytest.raises(SystemExit):
        split_args(parser, ["--input", "x", "stray"])
    assert "unrecognized arguments: stray" in capsys.readouterr().err
