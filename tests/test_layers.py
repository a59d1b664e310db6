"""Import rules per layer: data flows pipelines -> tokens <- mixer <- trainer <- evals; the sandbox is below both
pipelines and evals.

The token format (`tokens`) and the mixer import neither Beam nor JAX; the trainer never
imports `pipelines`; the pipelines never import Flax; no package imports a layer above it
(evals imports trainer, never the reverse); no two project modules import each other, directly
or through others, not even lazily inside a function; no project module is named after a
standard-library module (`from pipelines import io` would hide the standard `io`).
"""
import ast
import pathlib
import subprocess
import sys
from collections.abc import Mapping

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


def _modules() -> dict[str, pathlib.Path]:
    """Dotted name -> file of every project module (a package is its __init__.py)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _module_imports(name: str, path: pathlib.Path, modules: Mapping[str, pathlib.Path]) -> set[str]:
    """Project modules `name` imports anywhere in its file (function-level imports included).
    `from a.b import c` counts as importing a.b.c when that is a module, else a.b."""
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
                elif base in modules:
                    found.add(base)
    return found - {name}


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted; [] when the graph is acyclic."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]     # iterative: no recursion limit on deep chains
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return sorted(cycles)


def test_cycle_finder_finds_a_circle_through_a_lazy_import():
    graph = {"tokens.checksums": {"tokens.paths"}, "tokens.paths": {"tokens.checksums"}, "tokens.manifest": set()}
    assert import_cycles(graph) == [["tokens.checksums", "tokens.paths"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_between_project_modules():
    modules = _modules()
    graph = {name: _module_imports(name, path, modules) for name, path in modules.items()}
    assert not import_cycles(graph), f"modules that import each other: {import_cycles(graph)}"


def _stdlib_names_in_use() -> set[str]:
    """Standard-library modules that some project module imports (the ones a same-named module would hide)."""
    used = set()
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                used |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                used.add(node.module.split(".")[0])
    return used & set(sys.stdlib_module_names)


def test_no_module_is_named_after_a_standard_library_module_in_use():
    """`from pipelines import io` in a module that also needs the standard `io` hides one of them."""
    used = _stdlib_names_in_use()
    shadowing = sorted(name for name in _modules() if name.rsplit(".", 1)[-1] in used)
    assert not shadowing, f"named after standard-library modules the project imports: {shadowing}"


def test_no_import_is_bound_to_a_standard_library_name():
    """`from tokens import paths as io` makes `io` mean the project's module in that scope."""
    used, offenders = _stdlib_names_in_use(), []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in PACKAGES):
                offenders += [f"{name}: {alias.asname or alias.name}" for alias in node.names
                              if (alias.asname or alias.name) in used]
    assert not offenders, f"project modules bound to standard-library names: {sorted(set(offenders))}"
