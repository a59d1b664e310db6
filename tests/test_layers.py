"""Import rules per layer: data flows pipelines -> tokens <- mixer <- trainer <- evals; the sandbox is below both
pipelines and evals.

The token format (`tokens`) and the mixer import neither Beam nor JAX; the trainer never
imports `pipelines`; the pipelines never import Flax; no package imports a layer above it
(evals imports trainer, never the reverse).
"""
import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("sandbox", "pipelines", "tokens", "mixer", "trainer", "evals")
# What each package may import from the project (besides itself).
ALLOWED = {"sandbox": set(), "tokens": set(), "pipelines": {"tokens", "sandbox"}, "mixer": {"tokens"},
           "trainer": {"tokens", "mixer"}, "evals": {"tokens", "mixer", "trainer", "sandbox"}}


def _loaded_after(imports: str) -> set[str]:
    code = f"import sys\n{imports}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("imports,forbidden", [
    ("import sandbox, sandbox.execution, sandbox.seccomp, sandbox.__main__",
     {"apache_beam", "jax", "flax", "optax", "orbax", "pipelines", "tokens", "mixer", "trainer", "evals"}),
    ("import tokens.manifest, tokens.records, tokens.source, tokens.lengths, tokens.shards, tokens.tokenizer, "
     "tokens.sources, tokens.flags, "
     "tokens.paths", {"apache_beam", "jax", "flax", "optax", "orbax", "pipelines", "mixer", "trainer"}),
    ("import mixer.cli, mixer.sampling_plan, mixer.build, mixer.api, mixer.display, mixer.mixture, mixer.sample_command",
     {"apache_beam", "jax", "flax", "optax", "orbax", "pipelines", "trainer"}),
    ("import pipelines.sources, pipelines.filters", {"jax", "flax", "apache_beam"}),
    ("import pipelines.curate, pipelines.tokenize, pipelines.train_tokenizer", {"jax", "flax", "optax", "orbax"}),
    ("import trainer.train, trainer.data, trainer.checkpoint, trainer.metrics", {"pipelines", "apache_beam"}),
    ("import trainer.train, trainer.model, trainer.data, trainer.checkpoint, trainer.step, trainer.__main__",
     {"evals", "lm_eval"}),
])
def test_layer_does_not_import_heavy_dependencies(imports, forbidden):
    assert not (_loaded_after(imports) & forbidden)


def _project_imports(path: pathlib.Path) -> set[str]:
    """Top-level project packages named by any import statement in the file (lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_layers_below_it(package):
    """Static check over every module, function-level imports included, so no lazy import hides a cycle."""
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _project_imports(path) - ALLOWED[package] - {package}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"{package} imports layers it must not: {offenders}"
