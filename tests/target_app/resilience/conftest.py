"""Fixtures of the resilience tests: async tests run on asyncio (anyio's pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from target_app.core.config import Settings, load_settings
from target_app.core.db import Database
from target_app.models import Base


def dev_settings(**overrides: object) -> Settings:
    """The service's settings from the environment and ``overrides``, in ``DEV_MODE``: the
    small test apps here sign no tokens, so they need no ``SECRET_KEY``."""
    return load_settings(dev_mode=True, **overrides)


@pytest.fixture
def anyio_backend() -> str:
    """Every async test here runs on asyncio: the service runs on uvicorn's asyncio loop."""
    return "asyncio"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """The service's own `Database` on a fresh SQLite file, with every table created."""
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'service.db'}", dev_mode=True)
    db = Database(settings)
    Base.metadata.create_all(db.engine)
    try:
        yield db
    finally:
        db.dispose()
