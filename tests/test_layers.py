"""Light imports per layer (STYLE.md 10): the mixer never pulls in JAX, the pipelines never Flax."""
import subprocess
import sys

import pytest


def _loaded_after(imports: str) -> set[str]:
    code = f"import sys\n{imports}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("imports,forbidden", [
    ("import mixer.cli, mixer.sampling, mixer.build, mixer.inspect, mixer.mixture", {"jax", "flax", "optax", "orbax"}),
    ("import pipelines.records, pipelines.manifest, pipelines.sources, pipelines.filters",
     {"jax", "flax", "apache_beam"}),
    ("import pipelines.curate, pipelines.tokenize, pipelines.train_tokenizer", {"jax", "flax", "optax", "orbax"}),
])
def test_layer_does_not_import_heavy_dependencies(imports, forbidden):
    assert not (_loaded_after(imports) & forbidden)
