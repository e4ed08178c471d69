"""The service's settings: one `Settings` field per environment variable, nothing else.

Everything the service needs to know about its deployment comes from the environment, so one
image runs anywhere (12-factor). Nothing is read from files: a stray ``.env`` in the working
directory must never change a capacity measurement behind the operator's back.

Field ``x`` is read from the variable ``X``, and its docstring is where the variable is
documented. The app factory takes a `Settings` (``create_app(settings)``), so a test builds an
app with any value, rate limits and breakers included, without touching ``os.environ``::

    create_app(load_settings(database_url=url, secret_key=key, rate_limit_anonymous=5))

Insecure values are refused at start-up rather than discovered in production: ``SECRET_KEY``
must be set (unless ``DEV_MODE=1``), at least 32 characters long and not one of the well-known
placeholder strings; ``ADMIN_TOKEN``, when set, at least 16 characters. Errors name the
variable, the value and what was expected (secrets are not echoed)::

    ConfigError: Config 'DB_POOL_MIN' has value 'many'. Input should be a valid integer ...
    ConfigError: Config 'BREAKER_AI' has value '3/30'. Expected failures/timeout_s/reset_s, ...
"""

from __future__ import annotations

from collections.abc import Mapping
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

from target_app.core.errors import ConfigError

MIN_SECRET_LENGTH = 32
MIN_ADMIN_TOKEN_LENGTH = 16

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

#: Variables whose values are (or may hold) credentials: an error shows only their length.
SECRET_VARIABLES = frozenset({"SECRET_KEY", "ADMIN_TOKEN", "READ_REPLICA_URLS"})

#: The launch plan's circuit breakers, one per dependency, as ``failures/timeout_s/reset_s``
#: (docs/resilience.md, "Circuit breakers"); each is the default of ``BREAKER_<NAME>``.
BREAKER_DEFAULTS: Mapping[str, str] = {
    "database": "5/10/30",
    "ai": "3/30/60",
    "payments": "5/15/30",
    "sms": "5/10/30",
    "email": "5/10/30",
    "storage": "5/15/30",
    # The read path's own: a failing replica or cache is skipped, never waited on, so they
    # open sooner than the database's and try again sooner.
    "replica": "3/2/10",
    "cache": "3/0.5/10",
}

#: The dependencies with a circuit breaker.
DEPENDENCIES = tuple(BREAKER_DEFAULTS)

#: The external dependencies that are in-process fakes (the database is real).
FAKE_DEPENDENCIES = ("ai", "payments", "sms", "email", "storage")


def parse_breaker_spec(variable: str, value: str) -> tuple[int, float, float]:
    """``"5/10/30"`` -> ``(5, 10.0, 30.0)``; `ConfigError` naming the variable."""
    parts = value.split("/")
    expected = "Expected failures/timeout_s/reset_s, for example 5/10/30."
    if len(parts) != 3:
        raise ConfigError(variable, value, expected)
    try:
        failures, timeout_s, reset_s = int(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        raise ConfigError(variable, value, expected) from None
    if failures < 1 or timeout_s <= 0 or reset_s <= 0:
        raise ConfigError(variable, value, "Failures must be >= 1, timeout and reset > 0 seconds.")
    return failures, timeout_s, reset_s


def parse_latencies(variable: str, value: str) -> dict[str, float]:
    """``"ai=40,sms=10"`` -> ``{"ai": 0.04, "sms": 0.01}`` (seconds)."""
    result: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, number = item.partition("=")
        if name not in FAKE_DEPENDENCIES:
            raise ConfigError(
                variable, value, f"Unknown dependency {name!r}; one of {FAKE_DEPENDENCIES}."
            )
        try:
            millis = float(number)
        except ValueError:
            raise ConfigError(variable, value, f"{item!r} is not name=ms.") from None
        if millis < 0:
            raise ConfigError(variable, value, f"Negative latency in {item!r}.")
        result[name] = millis / 1000.0
    return result


class Settings(BaseSettings):
    """The service's settings. Field ``x`` is read from environment variable ``X``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    # --- deployment --------------------------------------------------------------------------

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
    """Comma-separated peer addresses whose ``X-Forwarded-For`` is believed: the proxy-headers
    middleware and the rate limiter take the forwarded client address from them only."""

    redis_url: str | None = None
    """State the workers share: rate-limit counts and injected faults. Required when
    ``WEB_CONCURRENCY`` > 1 with rate limits on; checked by ``/health/ready``."""

    web_concurrency: int = Field(
        1, ge=1, validation_alias=AliasChoices("web_concurrency", "workers")
    )
    """Number of uvicorn worker processes (``WEB_CONCURRENCY`` or ``WORKERS``)."""

    admin_token: SecretStr | None = None
    """When set (>= 16 characters): ``/metrics`` requires ``Authorization: Bearer
    <ADMIN_TOKEN>``, ``/admin/faults`` exists, and calls carrying it are never rate limited."""

    prometheus_multiproc_dir: str | None = None
    """Directory shared by the workers' metric files (set by ``serve`` when workers > 1)."""

    keep_alive_s: int = Field(75, ge=1)
    """How long an idle keep-alive connection stays open (uvicorn's ``timeout_keep_alive``,
    whose own default is 5 s). A client that sends on a connection just as the server closes
    it gets no answer; with simulated users who pause for exponential think times, 5 s is
    crossed often enough to lose a request in a long run (docs/benchmarks.md, "The lost
    request"). 75 s is longer than a load balancer's usual idle timeout (60 s), as a server
    behind one needs."""

    instance_name: str = ""
    """A label for this instance, shown in ``/health/ready`` (the lab names its instances so
    that a load balancer's view and the service's own can be told apart)."""

    otel_telemetry: bool = False
    """FastAPI's native OpenTelemetry (traces, metrics, logs through the global providers).
    Off by default: the service reports through ``/metrics``, and with it on FastAPI looks
    up the three global providers (environment variables included) on every request, a cost
    docs/benchmarks.md measures on the hottest one."""

    request_timeout_s: float = Field(0.0, ge=0)
    """A request still unanswered after this many seconds gets 503 + ``Retry-After`` (a
    problem body) and counts as an error; 0: no limit. Behind a load balancer with its own
    timeout, set it a little below that one so the client sees the service's answer."""

    # --- the read path: replicas, read-your-writes, cache, pooler (docs/lab.md) -------------

    read_replica_urls: str = ""
    """Comma-separated SQLAlchemy URLs of streaming replicas. Reads that tolerate lag go to
    them in turn (``resilience/read_routing.py``); empty: every read goes to ``DATABASE_URL``."""

    replica_timeout_s: float = Field(1.0, gt=0)
    """A replica that has not connected, or answered a statement, within this many seconds is
    cut off and the read reruns on the primary (``resilience/replica_deadline.py``): a frozen
    replica costs a read this long, and opens the ``replica`` breaker after three."""

    read_your_writes_s: float = Field(5.0, ge=0)
    """A user who wrote within this many seconds reads from the primary, so they see their
    own write whatever the replicas' lag. Recorded in the read path's Redis
    (``CACHE_REDIS_URL``, else ``REDIS_URL``) when one is set (so it holds across instances),
    else in the process."""

    cache_enabled: bool = False
    """Cache the hot reads (the job board's first pages, the territories) in Redis
    (``CACHE_REDIS_URL``, else ``REDIS_URL``). Writes that change a territory's board
    invalidate it."""

    cache_redis_url: str | None = None
    """The read path's own Redis: the cache and the read-your-writes marks, behind the
    ``cache`` breaker. Unset: ``REDIS_URL``. Apart from ``REDIS_URL`` (rate limits, injected
    faults) so that the cache can fail, or be sized and flushed, on its own."""

    cache_ttl_s: float = Field(30.0, gt=0)
    """Longest life of a cached page; also the bound on staleness when an invalidation is
    lost (Redis unreachable at the write)."""

    db_pooler: bool = False
    """``DATABASE_URL`` (and the replica URLs) point at PgBouncer in transaction mode: no
    server-side prepared statements (a transaction's next statement may reach another server
    connection), and connections are checked before use."""

    # --- rate limits (requests per minute, per caller) ---------------------------------------

    rate_limit_enabled: bool = True
    """Install the rate-limit middleware (off for runs that must measure the service alone)."""

    rate_limit_anonymous: int = Field(60, ge=1)
    """Callers without a valid token, counted per client address."""

    rate_limit_authenticated: int = Field(200, ge=1)
    """Signed-in users of the free tier, counted per user."""

    rate_limit_pro: int = Field(500, ge=1)
    """Signed-in users of the pro tier."""

    rate_limit_operator: int = Field(1000, ge=1)
    """Operators."""

    # --- circuit breakers: failures / timeout seconds / reset seconds -------------------------

    breaker_database: str = BREAKER_DEFAULTS["database"]
    """The database's breaker: every session and the job board's reads."""

    breaker_ai: str = BREAKER_DEFAULTS["ai"]
    """The AI service's breaker (job categorisation)."""

    breaker_payments: str = BREAKER_DEFAULTS["payments"]
    """The payments provider's breaker (holds on award)."""

    breaker_sms: str = BREAKER_DEFAULTS["sms"]
    """The SMS provider's breaker (outbox deliveries)."""

    breaker_email: str = BREAKER_DEFAULTS["email"]
    """The e-mail provider's breaker (outbox deliveries)."""

    breaker_storage: str = BREAKER_DEFAULTS["storage"]
    """The photo storage's breaker."""

    breaker_replica: str = BREAKER_DEFAULTS["replica"]
    """The read replicas' breaker: while open, replica reads go to the primary."""

    breaker_cache: str = BREAKER_DEFAULTS["cache"]
    """The read path's Redis (cache and recent writers): while open, reads skip the cache."""

    breaker_half_open_calls: int = Field(3, ge=1)
    """Trial calls a breaker admits once its reset time has passed."""

    # --- fakes of the external services, and the background loops ----------------------------

    fake_latency_ms: str = "ai=40,payments=25,sms=10,email=10,storage=20"
    """Base latency of each in-process fake, ``name=milliseconds`` (missing ones are 0)."""

    outbox_poll_s: float = Field(0.5, gt=0)
    """How often the outbox worker looks for due messages."""

    outbox_backoff_max_s: float = Field(60.0, gt=0)
    """Longest wait between two delivery attempts of one outbox message."""

    payment_retry_s: float = Field(30.0, gt=0)
    """How often payment-pending awards are retried."""

    resilience_workers: bool = True
    """Run the outbox and payment-retry loops; tests that snapshot the database turn them off."""

    @cached_property
    def trusted_proxy_set(self) -> frozenset[str]:
        """``TRUSTED_PROXIES`` as a set of addresses."""
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    @cached_property
    def replica_urls(self) -> tuple[str, ...]:
        """``READ_REPLICA_URLS`` as a tuple (empty: no replicas)."""
        return tuple(u.strip() for u in self.read_replica_urls.split(",") if u.strip())

    @property
    def read_path_redis_url(self) -> str | None:
        """The Redis of the cache and the read-your-writes marks: ``CACHE_REDIS_URL``, else
        ``REDIS_URL``, else None."""
        return self.cache_redis_url or self.redis_url

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite."""
        return self.database_url.startswith("sqlite")

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

    @field_validator("admin_token")
    @classmethod
    def _admin_token_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        length = len(value.get_secret_value()) if value is not None else None
        if length is not None and length < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(f"Too short: {length} characters, at least {MIN_ADMIN_TOKEN_LENGTH}.")
        return value

    @field_validator(*(f"breaker_{name}" for name in DEPENDENCIES))
    @classmethod
    def _breaker_spec(cls, value: str, info: ValidationInfo) -> str:
        parse_breaker_spec(str(info.field_name).upper(), value)
        return value

    @field_validator("read_replica_urls")
    @classmethod
    def _replica_urls(cls, value: str) -> str:
        for url in filter(None, (part.strip() for part in value.split(","))):
            if not url.startswith("postgresql"):
                shown = url.split("@")[-1]  # never echo a password
                raise ValueError(
                    f"{shown!r} is not a PostgreSQL URL; expected comma-separated "
                    "postgresql+psycopg://user@host:port/database URLs of streaming replicas."
                )
        return value

    @field_validator("fake_latency_ms")
    @classmethod
    def _latencies(cls, value: str) -> str:
        parse_latencies("FAKE_LATENCY_MS", value)
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Self:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(f"Must not exceed DB_POOL_MAX ({self.db_pool_max}).")
        return self

    @model_validator(mode="after")
    def _cache_needs_redis(self) -> Self:
        if self.cache_enabled and not self.read_path_redis_url:
            raise ConfigError(
                "CACHE_ENABLED",
                "true",
                "The cache lives in Redis: set CACHE_REDIS_URL (or REDIS_URL) as well.",
            )
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
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):
            raise cause from None
        loc = error.get("loc") or ()
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # the one model-level check without its own ConfigError: the pool bounds
            raise ConfigError("DB_POOL_MIN", error["input"].get("db_pool_min"), reason) from None
        variable = str(loc[0]).upper()
        raise ConfigError(variable, _shown(variable, error.get("input")), reason) from None


def _shown(variable: str, value: object) -> object:
    """``value`` as an error may show it: a credential only by its length; a well-known
    placeholder in full, since it is public anyway and the operator sees which one it was."""
    if variable not in SECRET_VARIABLES or not isinstance(value, str):
        return value
    if value.strip().lower() in INSECURE_SECRETS:
        return value
    return f"<hidden, {len(value)} characters>"
