"""Presets, overrides and vocabulary resolution."""
import dataclasses

import pytest

from trainer.configs import PRESETS, ModelConfig, get_config, parse_overrides, resolve_vocab
from trainer.model import count_params


@pytest.mark.parametrize("name,target", [("470m", 470e6), ("2.8b", 2.8e9)])
def test_preset_parameter_counts_within_5_percent(name, target):
    cfg = get_config(name)
    n = count_params(cfg.model)  # jax.eval_shape: nothing allocated
    assert abs(n - target) / target < 0.05, n
    assert cfg.model.vocab_size == 256_000 and cfg.model.seq_len == 8192
    assert cfg.global_batch == 512


def test_overrides_parse_by_field_type():
    cfg = get_config("tiny", **{"optim.lr": "1e-3", "model.n_layers": "3", "model.tie_embeddings": "false",
                                "steps": "7", "mesh.fsdp": "2", "model.remat": "dots"})
    assert cfg.optim.lr == 1e-3 and cfg.model.n_layers == 3 and cfg.model.tie_embeddings is False
    assert cfg.steps == 7 and cfg.mesh.fsdp == 2 and cfg.model.remat == "dots"
    assert get_config("tiny", optim__lr=2e-3).optim.lr == 2e-3
    assert PRESETS["tiny"].config.optim.lr != 1e-3  # presets are not mutated


def test_bad_overrides_are_refused():
    with pytest.raises(KeyError, match="unknown config field"):
        get_config("tiny", **{"optim.learning_rate": "1"})
    with pytest.raises(ValueError, match="boolean"):
        get_config("tiny", **{"model.tie_embeddings": "maybe"})
    with pytest.raises(ValueError, match="remat"):
        get_config("tiny", **{"model.remat": "some"})
    with pytest.raises(ValueError, match="divisible"):
        get_config("tiny", **{"global_batch": "6", "grad_accum": "4"})
    with pytest.raises(KeyError, match="unknown preset"):
        get_config("7b")
    with pytest.raises(ValueError, match="field.path=value"):
        parse_overrides(["optim.lr"])
    assert parse_overrides(["optim.lr=3e-4", "steps = 5"]) == {"optim.lr": "3e-4", "steps": "5"}


def test_model_config_validates_heads():
    with pytest.raises(ValueError, match="n_kv_heads"):
        ModelConfig(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="n_heads"):
        ModelConfig(d_model=30, n_heads=4, n_kv_heads=4)


def test_resolve_vocab():
    tiny = get_config("tiny")
    assert tiny.model.vocab_size == 0
    assert resolve_vocab(tiny, 512).model.vocab_size == 512
    big = get_config("470m")
    assert resolve_vocab(big, 8192) is big  # a smaller tokenizer fits the 256k table
    small = dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, vocab_size=100))
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        resolve_vocab(small, 512)
