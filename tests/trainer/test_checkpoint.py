"""trainer/checkpoint.py: Orbax round trip of the real train state + Grain iterator, keep-last-N, mixture guard."""
import copy
import json

import jax
import numpy as np
import pytest

from mixer.mixture import mixture_hash
from tests.trainer.corpus import make_mixture
from trainer import checkpoint, data
from trainer.configs import get_config, resolve_vocab
from trainer.sharding import make_mesh
from trainer.step import init_state


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    with open(make_mixture(str(tmp_path_factory.mktemp("corpus")), documents=60)) as f:
        return json.load(f)


def _state(seed):
    cfg = resolve_vocab(get_config("tiny", **{"model.seq_len": "32"}), 64)
    mesh = make_mesh(cfg.mesh)
    state, shardings = init_state(cfg, jax.random.key(seed), mesh)
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
    return state, abstract


@pytest.fixture(scope="module")
def tiny_state():
    return _state(0)


def _equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_round_trip_state_and_iterator_keep_last(tmp_path, mixture, tiny_state):
    state, abstract = tiny_state
    state = state.replace(step=state.step + 7)
    cfg = data.DataConfig(seq_len=32, global_batch=2, prefetch=2)
    it = data.make_train_iterator(mixture, cfg)
    ckpt = checkpoint.Checkpointer(str(tmp_path), max_to_keep=2)
    for step in (1, 2, 3):
        next(it)
        ckpt.save(step, state, it, {"mixture_hash": "h", "step_note": step})
    expected = [next(it) for _ in range(3)]
    ckpt.close()

    ckpt = checkpoint.Checkpointer(str(tmp_path))
    assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3
    assert ckpt.read_meta()["step_note"] == 3
    fresh = data.make_train_iterator(mixture, cfg)
    restored, meta = ckpt.restore(abstract, fresh)
    ckpt.close()
    assert meta["step"] == 3 and int(restored.step) == 7
    assert _equal(restored.params, state.params) and _equal(restored.opt_state, state.opt_state)
    for want in expected:
        got = next(fresh)
        assert all(np.array_equal(want[k], got[k]) for k in want)


def test_mixture_hash_ignores_locations_not_data(mixture):
    h = mixture_hash(mixture)
    moved = copy.deepcopy(mixture)
    moved["command"] = "python -m mixer build --elsewhere"
    for spec in moved["sources"].values():
        spec["manifest"] = "gs://bucket/" + spec["manifest"].lstrip("/")
        spec["shards"] = ["gs://bucket/x"]
    assert mixture_hash(moved) == h
    reweighted = copy.deepcopy(mixture)
    reweighted["sources"]["code"]["weight"] = 0.6
    assert mixture_hash(reweighted) != h
    reseeded = dict(mixture, seed=1)
    assert mixture_hash(reseeded) != h


def test_check_resume_refuses_other_mixture():
    meta = {"mixture_hash": "a" * 64, "mixture_name": "code-25", "step": 40}
    checkpoint.check_resume(meta, "a" * 64)
    with pytest.raises(checkpoint.ResumeError, match="code-25.*--force"):
        checkpoint.check_resume(meta, "b" * 64)
    checkpoint.check_resume(meta, "b" * 64, force=True)


def test_load_weights_from_previous_stage(tmp_path, tiny_state):
    state, abstract = tiny_state
    ckpt = checkpoint.Checkpointer(str(tmp_path / "stage1"), async_save=False)
    ckpt.save(5, state, None, {"mixture_hash": "x", "lr": 1e-4})
    ckpt.close()
    loaded, meta = checkpoint.load_weights_from(str(tmp_path / "stage1"), abstract, with_optimizer=True)
    assert meta["step"] == 5 and meta["lr"] == 1e-4 and meta["with_optimizer"]
    assert _equal(loaded.params, state.params)
    with pytest.raises(checkpoint.ResumeError, match="no checkpoint"):
        checkpoint.load_weights_from(str(tmp_path / "missing"), abstract)
    wider = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[:-1] + (a.shape[-1] * 2,), a.dtype)
                         if a.ndim else a, abstract)
    with pytest.raises(checkpoint.ResumeError, match="model config must match"):
        checkpoint.load_weights_from(str(tmp_path / "stage1"), wider)


def test_relative_workdir_saves_and_loads(tmp_path, monkeypatch, tiny_state):
    """`--workdir demo_out/run` (relative, as in `make demo`) must work: Orbax needs absolute paths."""
    state, abstract = tiny_state
    monkeypatch.chdir(tmp_path)
    ckpt = checkpoint.Checkpointer("runs/rel", async_save=False)
    ckpt.save(2, state, None, {"mixture_hash": "x"})
    ckpt.close()
    assert (tmp_path / "runs" / "rel" / "checkpoints").is_dir()
    loaded, meta = checkpoint.load_weights_from("runs/rel", abstract)
    assert meta["step"] == 2 and _equal(loaded.params, state.params)
