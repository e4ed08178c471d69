"""Settings, read from environment variables only.

Everything the service needs to know about its deployment comes from the environment, so one
image runs anywhere (12-factor). Nothing is read from files: a stray ``.env`` in the working
directory must never change a capacity measurement behind the operator's back.

Required settings have no default, and insecure values are refused at start-up rather than
discovered in production: ``SECRET_KEY`` must be set (unless ``DEV_MODE=1``), at least 32
characters long, and not one of the well-known placeholder strings.

Errors name the variable and the value::

    ConfigError: Config 'DB_POOL_MIN' has value 'many'. Input should be a valid integer ...
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Self

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32

#: Placeholders that appear in tutorials and templates; refusing them is cheap insurance.
INSECURE_SECRETS = frozenset(
    {
        "changethis",
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "secretkey",
        "password",
        "dev",
        "development",
        "test",
        "insecure",
        "default",
        "your-secret-key",
        "supersecret",
    }
)


class ConfigError(ValueError):
    """A setting has a value the service cannot run with. The message names both."""

    def __init__(self, variable: str, value: object, reason: str) -> None:
        self.variable = variable
        self.value = value
        super().__init__(f"Config '{variable}' has value {value!r}. {reason}")


class Settings(BaseSettings):
    """The service's settings. Field ``x`` is read from environment variable ``X``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    database_url: str = "sqlite:///./marketplace.db"
    """SQLAlchemy URL. ``sqlite:///path`` (WAL mode) or ``postgresql+psycopg://...``."""

    dev_mode: bool = False
    """Allows a missing ``SECRET_KEY`` (``serve`` then generates one per start)."""

    secret_key: SecretStr | None = Field(None, validate_default=True)
    """Signs bearer tokens. Required unless ``DEV_MODE=1``; >= 32 characters."""

    db_pool_min: int = Field(20, ge=1)
    """Connections kept open per worker (SQLAlchemy ``pool_size``)."""

    db_pool_max: int = Field(100, ge=1)
    """Most connections per worker; the difference to the minimum is overflow."""

    db_pool_timeout_s: float = Field(5.0, gt=0)
    """How long a request waits for a pooled connection before it gets 503 + Retry-After."""

    token_ttl_s: int = Field(3600, ge=1)
    """Lifetime of a bearer token in seconds."""

    trusted_proxies: str = ""
    """Comma-separated peer addresses whose ``X-Forwarded-For`` header is believed."""

    redis_url: str | None = None
    """Shared state for several workers (rate limits, issue 4). Checked by readiness."""

    web_concurrency: int = Field(
        1, ge=1, validation_alias=AliasChoices("web_concurrency", "workers")
    )
    """Number of uvicorn worker processes (``WEB_CONCURRENCY`` or ``WORKERS``)."""

    admin_token: SecretStr | None = None
    """When set, ``/metrics`` requires ``Authorization: Bearer <ADMIN_TOKEN>``."""

    prometheus_multiproc_dir: str | None = None
    """Directory shared by the workers' metric files (set by ``serve`` when workers > 1)."""

    keep_alive_s: int = Field(75, ge=1)
    """How long an idle keep-alive connection stays open (uvicorn's ``timeout_keep_alive``,
    whose own default is 5 s). A client that sends on a connection just as the server closes
    it gets no answer; with simulated users who pause for exponential think times, 5 s is
    crossed often enough to lose a request in a long run (docs/benchmarks.md, "The lost
    request"). 75 s is longer than a load balancer's usual idle timeout (60 s), as a server
    behind one needs."""

    otel_telemetry: bool = False
    """FastAPI's native OpenTelemetry (traces, metrics, logs through the global providers).
    Off by default: the service reports through ``/metrics``, and with it on FastAPI looks
    up the three global providers (environment variables included) on every request, about
    4% of the hottest one's instructions (docs/benchmarks.md)."""

    @cached_property
    def trusted_proxy_set(self) -> frozenset[str]:
        """``TRUSTED_PROXIES`` as a set of addresses."""
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite."""
        return self.database_url.startswith("sqlite")

    @field_validator("secret_key")
    @classmethod
    def _secret_is_strong(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if not info.data.get("dev_mode", False):
                raise ValueError("Required unless DEV_MODE=1.")
            return None
        raw = value.get_secret_value()
        if raw.strip().lower() in INSECURE_SECRETS:
            raise ValueError("A well-known placeholder; generate one: openssl rand -hex 32.")
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(f"Too short: {len(raw)} characters, at least {MIN_SECRET_LENGTH}.")
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Self:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(f"Must not exceed DB_POOL_MAX ({self.db_pool_max}).")
        return self


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, turning validation errors into `ConfigError`.

    ``overrides`` (lower-case field names) take precedence over the environment; tests and the
    command line use them.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error.get("loc") or ()
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # the only model-level check is the pool bounds
            raise ConfigError("DB_POOL_MIN", error["input"].get("db_pool_min"), reason) from None
        variable = str(loc[0]).upper()
        value = error.get("input")
        # Never echo a real (if short) secret into logs; placeholders are safe to show.
        secret = variable == "SECRET_KEY" and isinstance(value, str)
        if secret and str(value).strip().lower() not in INSECURE_SECRETS:
            value = f"<hidden, {len(str(value))} characters>"
        raise ConfigError(variable, value, reason) from None
