"""The shape of the package: no import cycles (function-level imports included), small modules, a public
API named in every package's __init__."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tumorbench"
MAX_LINES = 400  # beyond this a module says in its docstring why it is one piece ("cohesive")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree except the bodies of `if TYPE_CHECKING:` (imports for annotations only,
    never executed)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def import_graph() -> dict[str, set[str]]:
    """Module -> the tumorbench modules it imports anywhere in its body (top level or inside functions),
    type-checking-only imports aside."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for alias in node.names:  # `from pkg import submodule` imports the submodule
                    targets.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_type_checking_imports_are_not_runtime_imports():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
                     "def f():\n    import c\n")
    names = {alias.name for node in _runtime_nodes(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert names == {"b", "c"}


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_a_module_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 50 and "tumorbench.run" in graph["tumorbench.cli.train"] | {"tumorbench.run"}
    assert cycles(graph) == []


@pytest.mark.parametrize("name, path", sorted(_modules().items()), ids=lambda v: str(v))
def test_modules_stay_small_or_say_why(name, path):
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if lines > MAX_LINES:
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert "cohesive" in doc.lower(), \
            f"{name} has {lines} lines: split it, or say in its docstring why it is cohesive"


@pytest.mark.parametrize("name", sorted(n for n, p in _modules().items() if p.name == "__init__.py"))
def test_every_package_names_its_public_api(name):
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), (list, tuple)), f"{name} has no __all__"
    for exported in module.__all__:
        assert getattr(module, exported, None) is not None, f"{name}.__all__ names {exported!r}, which is missing"


def package_of(module: str) -> str:
    """tumorbench.X for a module of subpackage X or the top-level module X; the root stays itself."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> the packages its modules import (function-level imports included)."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module))
    for targets in list(packages.values()):
        for target in targets:
            packages.setdefault(target, set())
    return packages


def test_package_graph_joins_the_modules_of_a_package():
    graph = {"tumorbench.a.x": {"tumorbench.b.y"}, "tumorbench.b.y": {"tumorbench.a.z"}, "tumorbench.a.z": set()}
    assert cycles(package_graph(graph)) == [["tumorbench.a", "tumorbench.b"]]  # no module cycle, a package one


def test_no_package_imports_a_package_that_imports_it_back():
    packages = package_graph(import_graph())
    assert {"tumorbench.inference", "tumorbench.config", "tumorbench.evaluation"} <= set(packages)
    assert cycles(packages) == []
