"""Device mesh ("data", "fsdp", "tensor"), logical-axis rules, and batch placement.

Parameters carry logical axis names (trainer/model.py); RULES maps them onto mesh axes:
  embed -> fsdp (weights are sharded over FSDP ranks and all-gathered per layer by XLA),
  heads / kv_heads / mlp / vocab -> tensor (Megatron-style splits of attention, MLP and the vocabulary),
  batch -> (data, fsdp) (each data-or-fsdp rank holds different sequences).
Activations use separate act_* names so their sharding can differ from the weights' (the residual stream is
sharded over the batch only; heads, MLP hidden units and logits also over tensor).
"""
from __future__ import annotations

import math

import jax
import numpy as np
from flax import linen as nn
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from trainer.configs import MeshConfig

AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")

RULES = (
    ("batch", BATCH_AXES),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("head_dim", None),
    ("norm", None),
    ("act_batch", BATCH_AXES),
    ("act_length", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
)


def mesh_shape(mesh_cfg: MeshConfig, n_devices: int) -> dict[str, int]:
    """Resolve -1 (at most one axis) to the remaining devices; the product must equal n_devices."""
    sizes = {"data": mesh_cfg.data, "fsdp": mesh_cfg.fsdp, "tensor": mesh_cfg.tensor}
    free = [k for k, v in sizes.items() if v == -1]
    if len(free) > 1 or any(v == 0 or v < -1 for v in sizes.values()):
        raise ValueError(f"bad mesh {sizes}: sizes must be positive, at most one may be -1")
    fixed = math.prod(v for v in sizes.values() if v != -1)
    if free:
        if n_devices % fixed:
            raise ValueError(f"mesh {sizes} cannot fill {n_devices} devices ({n_devices} % {fixed} != 0)")
        sizes[free[0]] = n_devices // fixed
    if math.prod(sizes.values()) != n_devices:
        raise ValueError(f"mesh {sizes} needs {math.prod(sizes.values())} devices, have {n_devices}")
    return sizes


def make_mesh(mesh_cfg: MeshConfig, devices=None) -> Mesh:
    """Mesh over `devices` (default: all, every host) with axes ("data", "fsdp", "tensor")."""
    devices = list(jax.devices() if devices is None else devices)
    sizes = mesh_shape(mesh_cfg, len(devices))
    shape = tuple(sizes[a] for a in AXES)
    try:
        grid = mesh_utils.create_device_mesh(shape, devices=devices)
    except (AssertionError, NotImplementedError, ValueError):
        grid = np.asarray(devices).reshape(shape)  # CPU or an odd slice: plain order
    return Mesh(grid, AXES)


def logical_to_sharding(tree, mesh: Mesh):
    """Boxed (nn.Partitioned) abstract tree -> same-structure tree of NamedShardings (unboxed leaves: replicated).

    Raises a clear error when an array dimension is not divisible by the mesh axes it is split over."""
    specs = nn.get_partition_spec(tree)
    shardings = nn.logical_to_mesh_sharding(specs, mesh, RULES)
    values = nn.meta.unbox(tree)
    for (path, leaf), sharding in zip(jax.tree_util.tree_leaves_with_path(values),
                                      jax.tree.leaves(shardings, is_leaf=lambda x: isinstance(x, NamedSharding))):
        for dim, axes in zip(leaf.shape, sharding.spec):
            names = (axes,) if isinstance(axes, str) else tuple(axes or ())
            size = math.prod(mesh.shape[a] for a in names)
            if dim % size:
                raise ValueError(f"{jax.tree_util.keystr(path)} dimension {dim} is not divisible by mesh axes "
                                 f"{names} (size {size}); change the model shape or the mesh")
    return shardings


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    """Rows split over (data, fsdp); the sequence axis whole."""
    return NamedSharding(mesh, P(BATCH_AXES, *([None] * (ndim - 1))))


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Host-local numpy batch (this host's rows of the global batch, process-index order) -> global arrays.

    Works on one host and on many: each host passes only its own rows."""
    return {k: jax.make_array_from_process_local_data(batch_sharding(mesh, np.ndim(v)), np.asarray(v))
            for k, v in batch.items()}
