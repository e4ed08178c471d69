"""The dependency direction of DESIGN.md, checked on the source: no package reaches upward.

models/      imports nothing of ours
target_app/  imports nothing of ours (deployable alone)
journeys/    only models
reports/     only models
harness/     anything
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
