"""The project's import graph, read from the sources with ``ast``: no cycles, and every import points down.

Every ``import``/``from ... import`` counts, at module level and inside functions alike (an import
inside a function hides a cycle, it does not remove it). ``from pkg import name`` is an edge to
``pkg.name`` when that is a module of the project, else to ``pkg``; importing a module's parent
package is not counted (Python runs it first, whichever module of the package is imported).

Layers, highest first: a module may import its own layer and the layers below it, never above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("editor", "directions", "inversion", "cuda_ops")

#: Highest first. A module's layer is the longest prefix that names it; ``inversion``'s own top-level
#: modules (the latents file) sit above its sub-packages.
LAYERS = (
    "editor",
    "directions",
    "inversion",
    "inversion.projection",
    "inversion.faces",
    "inversion.checkpoints",
    "inversion.networks",
    "inversion.assets",
    "inversion.common",
    "cuda_ops",
)


def module_files() -> dict[str, Path]:
    """``{dotted module name: path}`` for every ``.py`` file of the packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules else source)
    return {target for target in found if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def layer_of(name: str) -> int:
    """Index in :data:`LAYERS` (0 = highest) of the longest prefix naming ``name``."""
    matches = [i for i, prefix in enumerate(LAYERS) if name == prefix or name.startswith(prefix + ".")]
    return max(matches, key=lambda i: len(LAYERS[i]))


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when the graph has none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_the_graph_is_read_from_the_sources():
    graph = import_graph()
    assert "inversion.common.errors" in graph["inversion.faces.detection"]
    assert "inversion.faces.landmarks" in graph["inversion.faces.detection"]  # from inversion.faces import landmarks
    assert "cuda_ops.builder" in graph["cuda_ops.dispatch"]


def test_find_cycle_reports_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_the_layers(package):
    graph = import_graph()
    upward = [f"{source} -> {target}" for source, targets in sorted(graph.items()) if source.split(".")[0] == package
              for target in sorted(targets) if layer_of(target) < layer_of(source)]
    assert not upward, "imports against " + " -> ".join(LAYERS) + ":\n" + "\n".join(upward)
