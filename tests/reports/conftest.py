"""Run directories for report tests, written by :mod:`tests.reports.factory` into tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reports.factory import RunSpec, write_run


@pytest.fixture
def passing_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "20261128T153000Z-step", RunSpec())


@pytest.fixture
def failing_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "20261128T160000Z-step", RunSpec(failing=True))


@pytest.fixture
def incomplete_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "20261128T163000Z-step", RunSpec(incomplete=True))


@pytest.fixture
def slower_run(tmp_path: Path) -> Path:
    """The passing run, 30% slower everywhere: against ``passing_run`` it regresses."""
    return write_run(tmp_path / "20261128T170000Z-step", RunSpec(latency_factor=1.3))
