"""target_app's layering, checked on its sources: no import reaches a layer above its own, and
no modules import each other in a circle.

The layers are the line of ``<`` in target_app's package docstring, the one place they are
defined. Every import statement counts, those inside functions too: an import deferred to run
time is a dependency all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "target_app"
ROOT = "target_app"

Graph = Mapping[str, set[str]]


def declared_layers(docstring: str) -> list[set[str]]:
    """The layers of the docstring's one ``a, b < c < ...`` line, lowest first."""
    lines = [line.strip() for line in docstring.splitlines() if " < " in line]
    assert len(lines) == 1, f"expected one line of layers in the docstring, found {lines}"
    return [{name.strip() for name in layer.split(",")} for layer in lines[0].split("<")]


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(name: str, known: set[str]) -> str:
    """The longest known module that ``name`` (a module, or a module's attribute) lies in."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def imports_of(source: str, module: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """The package's modules that ``source`` (module ``module``) imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1 packages
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {_resolve(name, known) for name in names if name.split(".")[0] == ROOT}
    return found - {module}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = module_names()
    known = set(modules)
    return {
        name: imports_of(
            path.read_text(encoding="utf-8"), name, known, is_package=path.name == "__init__.py"
        )
        for name, path in modules.items()
    }


def layer_of(module: str, layers: list[set[str]]) -> int | None:
    """The index of the layer ``module`` is in (by its top-level name), None if in none."""
    part = module.split(".")[1] if "." in module else None
    return next((i for i, layer in enumerate(layers) if part in layer), None)


def upward_imports(graph: Graph, layers: list[set[str]]) -> list[str]:
    """``a imports b`` for every import whose target is in a higher layer than its module."""
    found = []
    for module, targets in sorted(graph.items()):
        own = layer_of(module, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{module} (layer {own}) imports {target} (layer {theirs})")
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, set()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in graph.get(module, set()):
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


LAYERS = declared_layers(ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or "")


def test_every_module_is_in_one_layer() -> None:
    tops = {name.split(".")[1] for name in module_names() if "." in name}
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed)), f"a name in two layers: {placed}"
    assert tops == set(placed), (
        f"in no layer: {tops - set(placed)}; no such module: {set(placed) - tops}"
    )


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert upward_imports(import_graph(), LAYERS) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from target_app.api.deps import StateDep", "target_app.core.x", {"target_app.api.deps"}),
        ("import target_app.resilience.tables", "target_app.core.x", {"target_app.resilience"}),
        (
            "def f():\n    from target_app.api import deps",
            "target_app.core.x",
            {"target_app.api.deps"},
        ),
        ("from ..api import deps", "target_app.core.x", {"target_app.api.deps"}),
        ("from . import x", "target_app.core", {"target_app.core.x"}),
        ("import os\nfrom sqlalchemy import text", "target_app.core.x", set()),
    ],
)
def test_imports_are_read_in_every_form(source: str, module: str, expected: set[str]) -> None:
    known = {"target_app.api.deps", "target_app.api", "target_app.core", "target_app.core.x",
             "target_app.resilience"}  # fmt: skip
    is_package = module == "target_app.core"
    assert imports_of(source, module, known, is_package=is_package) == expected


def test_an_upward_import_and_a_circle_are_caught() -> None:
    graph = {
        "target_app.core.db": {"target_app.resilience.install"},  # core above resilience: no
        "target_app.resilience.install": {"target_app.core.db"},
        "target_app.api.deps": {"target_app.core.db"},
    }
    assert upward_imports(graph, LAYERS) == [
        "target_app.core.db (layer 1) imports target_app.resilience.install (layer 2)"
    ]
    assert cycles(graph) == [["target_app.core.db", "target_app.resilience.install"]]
    assert cycles({"target_app.api.deps": {"target_app.api.deps"}}) == [["target_app.api.deps"]]
