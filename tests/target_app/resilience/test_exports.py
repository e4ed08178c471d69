"""The package's curated exports stay in sync with the documentation."""

from __future__ import annotations

from pathlib import Path

import target_app.resilience as resilience

DOC = Path(__file__).resolve().parents[3] / "docs" / "resilience.md"


def test_every_export_exists_and_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in resilience.__all__:
        assert hasattr(resilience, name), name
        assert f"`{name}`" in text, f"{name} is exported but not mentioned in docs/resilience.md"
