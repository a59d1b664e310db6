"""Mesh resolution, logical-to-mesh shardings and batch placement (one device here; eight in test_step)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from jax.sharding import PartitionSpec as P

from trainer.configs import MeshConfig, ModelConfig
from trainer.model import Decoder
from trainer.sharding import logical_to_sharding, make_mesh, mesh_shape, shard_batch


def test_mesh_shape_fills_the_free_axis():
    assert mesh_shape(MeshConfig(1, -1, 4), 64) == {"data": 1, "fsdp": 16, "tensor": 4}
    assert mesh_shape(MeshConfig(-1, 4, 2), 16) == {"data": 2, "fsdp": 4, "tensor": 2}
    assert mesh_shape(MeshConfig(2, 2, 2), 8) == {"data": 2, "fsdp": 2, "tensor": 2}


@pytest.mark.parametrize("cfg,n", [(MeshConfig(-1, -1, 1), 8), (MeshConfig(1, -1, 3), 8),
                                   (MeshConfig(2, 2, 2), 4), (MeshConfig(0, 1, 1), 1)])
def test_impossible_meshes_are_refused(cfg, n):
    with pytest.raises(ValueError, match="mesh"):
        mesh_shape(cfg, n)


def test_make_mesh_axes_and_rules_on_one_device():
    mesh = make_mesh(MeshConfig(1, -1, 1))
    assert mesh.axis_names == ("data", "fsdp", "tensor") and mesh.devices.size == jax.device_count()
    cfg = ModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, n_kv_heads=2, d_ff=32, seq_len=8)
    abstract = jax.eval_shape(Decoder(cfg).init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    shardings = logical_to_sharding(abstract, mesh)["params"]
    assert shardings["embed"]["embedding"].spec == P("tensor", "fsdp")
    assert shardings["block_0"]["mlp"]["gate"]["kernel"].spec == P("fsdp", "tensor")
    assert shardings["block_0"]["attn"]["out"]["kernel"].spec == P("tensor", None, "fsdp")
    assert shardings["final_norm"]["scale"].spec == P(None)
    specs = nn.get_partition_spec(abstract)
    assert jax.tree.structure(shardings) == jax.tree.structure(specs["params"], is_leaf=lambda x: isinstance(x, P))


def test_shard_batch_builds_global_arrays_split_over_batch_axes():
    mesh = make_mesh(MeshConfig(1, -1, 1))
    batch = {"inputs": np.arange(32, dtype=np.int32).reshape(4, 8), "loss_mask": np.ones((4, 8), np.float32)}
    out = shard_batch(batch, mesh)
    assert out["inputs"].shape == (4, 8) and out["inputs"].dtype == jnp.int32
    assert out["inputs"].sharding.spec == P(("data", "fsdp"), None)
    np.testing.assert_array_equal(np.asarray(out["inputs"]), batch["inputs"])
