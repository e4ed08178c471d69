"""Settings of the resilience features, read from environment variables only.

They share ``TRUSTED_PROXIES``, ``REDIS_URL``, ``WEB_CONCURRENCY``/``WORKERS`` and
``ADMIN_TOKEN`` with the service's own settings (``target_app/core/config.py``), so both read
the same deployment. The rest are this package's own:

=========================  ==============  ==================================================
variable                   default         meaning
=========================  ==============  ==================================================
RATE_LIMIT_ENABLED         true            the middleware is installed
RATE_LIMIT_ANONYMOUS       60              requests per minute, per client address
RATE_LIMIT_AUTHENTICATED   200             per user, free tier
RATE_LIMIT_PRO             500             per user, pro tier
RATE_LIMIT_OPERATOR        1000            per user, operators
BREAKER_DATABASE           5/10/30         failures / timeout s / reset s (source document)
BREAKER_AI                 3/30/60
BREAKER_PAYMENTS           5/15/30
BREAKER_SMS                5/10/30
BREAKER_EMAIL              5/10/30
BREAKER_STORAGE            5/15/30
BREAKER_HALF_OPEN_CALLS    3               trial calls admitted after the reset time
FAKE_LATENCY_MS            ai=40,...       base latency of each in-process fake
OUTBOX_POLL_S              0.5             how often the outbox worker looks for work
OUTBOX_BACKOFF_MAX_S       60              longest wait between two delivery attempts
PAYMENT_RETRY_S            30              how often payment-pending awards are retried
RESILIENCE_WORKERS         true            run the outbox / payment loops in the background
=========================  ==============  ==================================================

Errors name the variable and the value: ``Config 'BREAKER_AI' has value '3/30'. Expected
failures/timeout_s/reset_s, for example 3/30/60.``
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from target_app.resilience.errors import ResilienceConfigError

#: The dependencies with a circuit breaker, in the order of the source document's table.
DEPENDENCIES = ("database", "ai", "payments", "sms", "email", "storage")

#: The external dependencies that are in-process fakes (the database is real).
FAKE_DEPENDENCIES = ("ai", "payments", "sms", "email", "storage")


def parse_breaker_spec(variable: str, value: str) -> tuple[int, float, float]:
    """``"5/10/30"`` -> ``(5, 10.0, 30.0)``; `ResilienceConfigError` naming the variable."""
    parts = value.split("/")
    expected = "Expected failures/timeout_s/reset_s, for example 5/10/30."
    if len(parts) != 3:
        raise ResilienceConfigError(variable, value, expected)
    try:
        failures, timeout_s, reset_s = int(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        raise ResilienceConfigError(variable, value, expected) from None
    if failures < 1 or timeout_s <= 0 or reset_s <= 0:
        raise ResilienceConfigError(
            variable, value, "Failures must be >= 1, timeout and reset > 0 seconds."
        )
    return failures, timeout_s, reset_s


def parse_latencies(variable: str, value: str) -> dict[str, float]:
    """``"ai=40,sms=10"`` -> ``{"ai": 0.04, "sms": 0.01}`` (seconds)."""
    result: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, number = item.partition("=")
        if name not in FAKE_DEPENDENCIES:
            raise ResilienceConfigError(
                variable, value, f"Unknown dependency {name!r}; one of {FAKE_DEPENDENCIES}."
            )
        try:
            millis = float(number)
        except ValueError:
            raise ResilienceConfigError(variable, value, f"{item!r} is not name=ms.") from None
        if millis < 0:
            raise ResilienceConfigError(variable, value, f"Negative latency in {item!r}.")
        result[name] = millis / 1000.0
    return result


class ResilienceSettings(BaseSettings):
    """Settings of rate limits, breakers, fakes and the outbox. Field ``x`` is env ``X``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    rate_limit_enabled: bool = True
    rate_limit_anonymous: int = Field(60, ge=1)
    rate_limit_authenticated: int = Field(200, ge=1)
    rate_limit_pro: int = Field(500, ge=1)
    rate_limit_operator: int = Field(1000, ge=1)

    trusted_proxies: str = ""
    """Comma-separated peer addresses whose ``X-Forwarded-For`` is believed."""

    redis_url: str | None = None
    """Rate-limit state shared by all workers; required when ``WEB_CONCURRENCY`` > 1."""

    web_concurrency: int = Field(
        1, ge=1, validation_alias=AliasChoices("web_concurrency", "workers")
    )

    admin_token: SecretStr | None = None
    """Enables ``/admin/faults``; callers must send ``Authorization: Bearer <token>``."""

    breaker_database: str = "5/10/30"
    breaker_ai: str = "3/30/60"
    breaker_payments: str = "5/15/30"
    breaker_sms: str = "5/10/30"
    breaker_email: str = "5/10/30"
    breaker_storage: str = "5/15/30"
    breaker_half_open_calls: int = Field(3, ge=1)

    fake_latency_ms: str = "ai=40,payments=25,sms=10,email=10,storage=20"

    outbox_poll_s: float = Field(0.5, gt=0)
    outbox_backoff_max_s: float = Field(60.0, gt=0)
    payment_retry_s: float = Field(30.0, gt=0)
    resilience_workers: bool = True
    """Run the outbox and payment-retry loops; tests that snapshot the database turn them off."""

    @field_validator(
        "breaker_database",
        "breaker_ai",
        "breaker_payments",
        "breaker_sms",
        "breaker_email",
        "breaker_storage",
    )
    @classmethod
    def _breaker_spec(cls, value: str, info: Any) -> str:
        parse_breaker_spec(str(info.field_name).upper(), value)
        return value

    @field_validator("fake_latency_ms")
    @classmethod
    def _latencies(cls, value: str) -> str:
        parse_latencies("FAKE_LATENCY_MS", value)
        return value

    @property
    def trusted_proxy_set(self) -> frozenset[str]:
        """``TRUSTED_PROXIES`` as a set of addresses."""
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    def breaker_spec(self, dependency: str) -> tuple[int, float, float]:
        """(failures, timeout_s, reset_s) of one dependency's breaker."""
        if dependency not in DEPENDENCIES:
            raise KeyError(f"no breaker for {dependency!r}; one of {DEPENDENCIES}")
        variable = f"breaker_{dependency}"
        return parse_breaker_spec(variable.upper(), str(getattr(self, variable)))

    def fake_latencies_s(self) -> dict[str, float]:
        """Base latency of each fake, seconds (missing ones are 0)."""
        return parse_latencies("FAKE_LATENCY_MS", self.fake_latency_ms)

    def rate_limits(self) -> dict[str, int]:
        """Requests per minute by tier: anonymous, authenticated, pro, operator."""
        return {
            "anonymous": self.rate_limit_anonymous,
            "authenticated": self.rate_limit_authenticated,
            "pro": self.rate_limit_pro,
            "operator": self.rate_limit_operator,
        }


def load_resilience_settings(**overrides: Any) -> ResilienceSettings:
    """Read the settings from the environment; errors become `ResilienceConfigError`.

    ``overrides`` (lower-case field names) win over the environment; tests use them.
    """
    try:
        return ResilienceSettings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ResilienceConfigError):
            raise cause from None
        loc = error.get("loc") or ("?",)
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        raise ResilienceConfigError(str(loc[0]).upper(), error.get("input"), reason) from None
