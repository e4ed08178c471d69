"""Fixtures of the chaos tests: the fault proxy's async tests run on asyncio (anyio's plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The proxy runs on an asyncio loop of its own thread in a run; the tests drive it the same."""
    return "asyncio"
