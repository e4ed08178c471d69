"""Every module of models/ says what it exports: ``__all__`` names only what exists, and every
public top-level function and class is in it (a new one cannot be left out by accident)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "models"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(
    _module_name(path)
    for path in PACKAGE.rglob("*.py")
    if not any(
        part.startswith("_") and part != "__init__.py" for part in path.relative_to(PACKAGE).parts
    )
)


def _public_definitions(name: str) -> set[str]:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text("utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }


def test_every_module_is_found() -> None:
    assert {"models", "models.mva", "models.errors", "models.simulation.runner"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_what_exists_and_every_public_definition(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"
    unlisted = sorted(_public_definitions(name) - set(exported))
    assert not unlisted, f"{name} defines public names not in __all__: {unlisted}"
