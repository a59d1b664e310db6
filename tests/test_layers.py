"""Light imports per layer (STYLE.md 10): the mixer never pulls in JAX, the pipelines never Flax; evals
imports trainer, trainer never imports evals."""
import ast
import pathlib
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
    ("import trainer.train, trainer.model, trainer.data, trainer.checkpoint, trainer.step, trainer.__main__",
     {"evals", "lm_eval"}),
])
def test_layer_does_not_import_heavy_dependencies(imports, forbidden):
    assert not (_loaded_after(imports) & forbidden)


def test_trainer_never_imports_evals():
    """Statically too (lazy imports inside functions would escape the runtime check above)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted((root / "trainer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("evals", "lm_eval")]
    assert offenders == []
    evals_imports = {n.split(".")[0] for p in (root / "evals").rglob("*.py")
                     for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.ImportFrom)
                     for n in [node.module or ""]}
    assert "trainer" in evals_imports                    # the dependency runs one way: evals -> trainer
