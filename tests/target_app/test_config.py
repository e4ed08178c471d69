"""Settings come from the environment only, refuse insecure values, and name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from target_app.core.config import load_settings
from target_app.core.errors import ConfigError
from target_app.resilience.install import check_deployment

GOOD_SECRET = "k" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SECRET_KEY",
        "DEV_MODE",
        "DATABASE_URL",
        "DB_POOL_MIN",
        "DB_POOL_MAX",
        "WEB_CONCURRENCY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_from_the_source_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./marketplace.db"
    assert (settings.db_pool_min, settings.db_pool_max, settings.db_pool_timeout_s) == (
        20,
        100,
        5.0,
    )
    assert settings.trusted_proxy_set == frozenset()


def test_reads_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("DB_POOL_MAX", "40")
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.2")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = load_settings()
    assert settings.db_pool_max == 40
    assert settings.trusted_proxy_set == {"127.0.0.1", "10.0.0.2"}
    assert settings.web_concurrency == 3


def test_ignores_dotenv_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SECRET_KEY=" + "d" * 40 + "\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings()


def test_secret_key_required_outside_dev_mode() -> None:
    with pytest.raises(
        ConfigError, match="'SECRET_KEY' has value None. Required unless DEV_MODE=1"
    ):
        load_settings()
    assert load_settings(dev_mode=True).secret_key is None


@pytest.mark.parametrize("value", ["changethis", "secret", "ChangeMe"])
def test_insecure_secret_refused_and_named(value: str) -> None:
    with pytest.raises(ConfigError, match=f"'SECRET_KEY' has value '{value}'"):
        load_settings(secret_key=value, dev_mode=True)


def test_short_secret_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(secret_key="abcdefgh12345")
    assert "abcdefgh12345" not in str(info.value)
    assert "13 characters" in str(info.value)


def test_bad_value_named_with_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MIN", "many")
    with pytest.raises(ConfigError, match="Config 'DB_POOL_MIN' has value 'many'"):
        load_settings(secret_key=GOOD_SECRET)


def test_pool_min_above_max_refused() -> None:
    with pytest.raises(
        ConfigError, match="'DB_POOL_MIN' has value 50. Must not exceed DB_POOL_MAX"
    ):
        load_settings(secret_key=GOOD_SECRET, db_pool_min=50, db_pool_max=10)


def test_the_resilience_settings_are_fields_of_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RATE_LIMIT_PRO", "42")
    monkeypatch.setenv("BREAKER_STORAGE", "4/12/20")
    settings = load_settings(secret_key=GOOD_SECRET, fake_latency_ms="ai=5")
    assert settings.rate_limits()["pro"] == 42
    assert settings.breaker_spec("storage") == (4, 12.0, 20.0)
    assert settings.fake_latencies_s() == {"ai": 0.005}


def test_a_bad_resilience_setting_is_named_with_what_was_expected() -> None:
    with pytest.raises(ConfigError, match="Config 'BREAKER_SMS' has value '5/x/30'. Expected"):
        load_settings(secret_key=GOOD_SECRET, breaker_sms="5/x/30")
    with pytest.raises(ConfigError, match="Config 'FAKE_LATENCY_MS' has value 'fax=3'. Unknown"):
        load_settings(secret_key=GOOD_SECRET, fake_latency_ms="fax=3")


def test_a_short_admin_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(secret_key=GOOD_SECRET, admin_token="letmein-123")
    assert info.value.variable == "ADMIN_TOKEN"
    assert "letmein-123" not in str(info.value)
    assert "11 characters, at least 16" in str(info.value)


def test_the_read_path_settings_and_what_they_refuse() -> None:
    settings = load_settings(
        secret_key=GOOD_SECRET,
        read_replica_urls=" postgresql+psycopg://r1:5433/db ,postgresql+psycopg://r2:5434/db",
    )
    assert settings.replica_urls == (
        "postgresql+psycopg://r1:5433/db",
        "postgresql+psycopg://r2:5434/db",
    )
    assert load_settings(secret_key=GOOD_SECRET).replica_urls == ()
    with pytest.raises(ConfigError, match="'CACHE_ENABLED' has value 'true'.*CACHE_REDIS_URL"):
        load_settings(secret_key=GOOD_SECRET, cache_enabled=True)
    # the read path's Redis: the cache's own when given, else the shared one
    own = "redis://127.0.0.1:7001/0"
    cached = load_settings(secret_key=GOOD_SECRET, cache_enabled=True, cache_redis_url=own)
    assert cached.read_path_redis_url == own and cached.redis_url is None
    shared = load_settings(secret_key=GOOD_SECRET, redis_url="redis://127.0.0.1:6379/1")
    assert shared.read_path_redis_url == "redis://127.0.0.1:6379/1"
    with pytest.raises(ConfigError, match="'READ_REPLICA_URLS' .*'sqlite:///x.db' is not"):
        load_settings(secret_key=GOOD_SECRET, read_replica_urls="sqlite:///x.db")
    with pytest.raises(ConfigError) as info:
        load_settings(secret_key=GOOD_SECRET, read_replica_urls="mysql://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="'REQUEST_TIMEOUT_S' has value -1"):
        load_settings(secret_key=GOOD_SECRET, request_timeout_s=-1)


def test_replicas_with_several_workers_need_redis_for_read_your_writes() -> None:
    replicas = {"read_replica_urls": "postgresql+psycopg://r1/db", "rate_limit_enabled": False}
    with pytest.raises(ConfigError, match="'WEB_CONCURRENCY' has value 2. With read replicas"):
        check_deployment(load_settings(secret_key=GOOD_SECRET, web_concurrency=2, **replicas))
    check_deployment(load_settings(secret_key=GOOD_SECRET, web_concurrency=1, **replicas))
    check_deployment(
        load_settings(
            secret_key=GOOD_SECRET, web_concurrency=2, redis_url="redis://127.0.0.1/1", **replicas
        )
    )
