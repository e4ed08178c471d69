"""The shared fixtures honour the TEST_*_URL variables their own messages point to."""

from __future__ import annotations

import pytest

from tests import conftest


def test_server_address_is_read_from_the_url() -> None:
    assert conftest.server_address("postgresql://u@db.example:6543/x", 5432) == (
        "db.example",
        6543,
    )
    assert conftest.server_address("redis://127.0.0.2/3", 6379) == ("127.0.0.2", 6379)


def test_redis_database_starts_at_the_url_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert conftest.redis_database() == 4
    monkeypatch.setattr(conftest, "REDIS_URL", "redis://127.0.0.1:6379")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert conftest.redis_database() == 0


def test_a_missing_server_named_by_the_url_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    # Port 9 (discard) on loopback: nothing listens there on a test machine.
    with pytest.raises(pytest.fail.Exception, match=r"127\.0\.0\.1:9\b.*Under CI"):
        conftest.require_server("PostgreSQL", "postgresql://u@127.0.0.1:9/x", 5432)
