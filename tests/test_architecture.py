"""The house's rules, checked on the source (docs/architecture.md):

models/      imports nothing of ours
target_app/  imports nothing of ours (deployable alone)
journeys/    only models
reports/     only models
harness/     anything

No module imports itself back through others (no import cycle, lazy imports inside functions
included), and no function in harness/, models/ or reports/ runs over 80 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"harness", "journeys", "models", "reports", "target_app"}
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "target_app": set(),
    "journeys": {"models"},
    "reports": {"models"},
    "harness": OURS,
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not offenders, "dependency direction broken:\n" + "\n".join(offenders)


def test_every_package_ships_py_typed() -> None:
    for package in OURS:
        assert (ROOT / package / "py.typed").is_file(), package


#: The longest a function in harness/, models/ or reports/ may be, ``def`` line to last line.
MAX_FUNCTION_LINES = 80


def module_names() -> dict[str, Path]:
    """Every module of our packages by dotted name (a package by its own name)."""
    modules = {}
    for package in sorted(OURS):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours ``path`` imports, anywhere in it. ``from package import module``
    depends on that module, not on the package's ``__init__`` (re-exports are no cycle)."""

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(m for alias in node.names if (m := owner(alias.name)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                module = submodule if submodule in modules else owner(node.module)
                if module:
                    found.add(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for neighbour in sorted(graph[node]):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_anywhere() -> None:
    modules = module_names()
    graph = {name: imported_modules(path, modules) - {name} for name, path in modules.items()}
    assert cycles(graph) == [], "import cycles (each group imports itself back)"


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_function_is_longer_than_the_limit() -> None:
    long = []
    for package in ("harness", "models", "reports"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        where = path.relative_to(ROOT)
                        long.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines: cut them at their phases"
