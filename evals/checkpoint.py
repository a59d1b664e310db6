"""Load a training run's checkpoint for inference: model config, parameters and tokenizer.

Only the parameters are restored (Orbax partial restore of the `state` item): the Adam moments, twice the
size of the model, are never read. The model config comes from the checkpoint's own meta (the trainer writes
the resolved TrainConfig there), so a run is evaluated with exactly the shapes it was trained with.

The tokenizer: `tokenizer=PATH` when given; else the run's own copy, RUN/tokenizer.model (trainer/run_files.py),
so a run copied elsewhere evaluates on its own; else (runs from older trainers) the run's mixture -> its first
source's manifest -> the tokenizer path the tokenize job recorded. Either way its SHA-256 must equal the one
the run was trained with (meta, else the mixture), so ids are never decoded with the wrong vocabulary.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from evals.errors import InputError


class CheckpointError(InputError):
    """A run directory that cannot be evaluated; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    cfg: Any               # trainer.configs.ModelConfig of the run
    params: Any            # parameter tree (jax arrays, unboxed)
    tokenizer: Any         # tokens.tokenizer.Tokenizer
    meta: dict             # the checkpoint's meta (step, mixture, config, ...)
    workdir: str

    @property
    def step(self) -> int:
        return int(self.meta.get("step", -1))


def model_config(meta: dict):
    """The ModelConfig recorded in a checkpoint meta (unknown keys refused: a config from another version)."""
    from trainer.configs import ModelConfig

    try:
        return ModelConfig(**meta["config"]["model"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint meta has no usable model config ({type(e).__name__}: {e})") from None


def read_meta(workdir: str, step: int | None = None) -> tuple[str, int, dict]:
    """(checkpoints directory, step, meta) of `step` (latest by default) of RUN=workdir; local or gs://."""
    from trainer.checkpoint import Checkpointer, ResumeError

    try:
        ckpt = Checkpointer(workdir, read_only=True)
    except Exception as e:
        raise CheckpointError(f"{workdir}: not a run directory ({type(e).__name__}: {e})") from None
    try:
        step = ckpt.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint under {ckpt.directory}")
        try:
            return ckpt.directory, int(step), ckpt.read_meta(step)
        except ResumeError as e:
            raise CheckpointError(str(e)) from None
        except Exception as e:
            raise CheckpointError(f"{ckpt.directory}: cannot read step {step} ({type(e).__name__}: {e})") from None
    finally:
        ckpt.close()


def restore_params(directory: str, step: int, cfg) -> Any:
    """The parameters of checkpoint `directory`/`step`, shaped by `cfg`, on the first local device."""
    import jax
    import orbax.checkpoint as ocp
    from etils import epath
    from flax import linen as nn

    from trainer.model import abstract_params

    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                            nn.meta.unbox(abstract_params(cfg)))
    restore_args = jax.tree.map(lambda _: ocp.ArrayRestoreArgs(sharding=device), abstract)
    path = epath.Path(directory) / str(step) / "state"
    try:
        restored = ocp.PyTreeCheckpointHandler().restore(path, args=ocp.args.PyTreeRestore(
            item={"params": abstract}, restore_args={"params": restore_args}, partial_restore=True))
    except Exception as e:
        raise CheckpointError(f"cannot restore parameters from {path}: {type(e).__name__}: {e}") from None
    return restored["params"]


def tokenizer_for(meta: dict, tokenizer: str | None = None, workdir: str | None = None):
    """The run's tokenizer (see module docstring), checked against the SHA-256 the run was trained with."""
    from tokens import paths
    from tokens.tokenizer import Tokenizer

    expected, path = meta.get("tokenizer_sha256"), tokenizer
    if path is None and workdir and paths.exists(paths.join(workdir, "tokenizer.model")):
        path = paths.join(workdir, "tokenizer.model")       # the run's own copy (trainer/run_files.py)
    mixture_path = meta.get("mixture")
    if mixture_path and (path is None or expected is None):
        from mixer.mixture import MixtureError, load_mixture
        from tokens.manifest import ManifestError, load_manifest

        try:
            mixture = load_mixture(mixture_path, check_shards=False)
            expected = expected or mixture.get("tokenizer_sha256")
            if path is None:
                first = mixture["sources"][sorted(mixture["sources"])[0]]
                path = load_manifest(first["manifest"]).tokenizer.get("path")
        except (MixtureError, ManifestError) as e:
            if path is None:
                raise CheckpointError(f"the run keeps no tokenizer.model and its mixture is not readable from here "
                                      f"({e}); pass the tokenizer (--tokenizer PATH/tokenizer.model)") from None
    if not path:
        raise CheckpointError("the checkpoint does not record its mixture (written by an older trainer): "
                              "pass tokenizer=PATH/tokenizer.model")
    try:
        tok = Tokenizer.load(path)
    except Exception as e:
        raise CheckpointError(f"cannot load tokenizer {path}: {type(e).__name__}: {e}") from None
    if expected and tok.sha256 != expected:
        raise CheckpointError(f"tokenizer {path} has sha256 {tok.sha256[:12]}..., the run's mixture was built "
                              f"with {expected[:12]}...: pass the tokenizer the run was trained with")
    return tok


def load(workdir: str, tokenizer: str | None = None, step: int | None = None) -> LoadedModel:
    """Everything needed to score and generate with the run at `workdir` (RUN, as given to the trainer)."""
    directory, step, meta = read_meta(workdir, step)
    cfg = model_config(meta)
    tok = tokenizer_for(meta, tokenizer, workdir)
    if tok.vocab_size > cfg.vocab_size:
        raise CheckpointError(f"tokenizer vocabulary {tok.vocab_size} > model vocabulary {cfg.vocab_size}")
    return LoadedModel(cfg=cfg, params=restore_params(directory, step, cfg), tokenizer=tok, meta=meta,
                       workdir=workdir)
