"""The workload profile: one typed, immutable description of population, personas, objectives,
scenarios, infrastructure and cost, shared by the model, the journeys and the report.

Loading goes in three steps, each with errors that name the file, the key path, the value and
what was expected::

    default_profile.toml  --merge-->  user file (partial)  --merge-->  overrides (CLI flags)
            |                                                                |
            +------------------------ pydantic: types, ranges, unknown keys -+
                                      consistency: shares sum to 1, min <= max, ramps fit, ...

Derived quantities (DAU, peak concurrency) are methods, never stored, so an override of the
user count cannot leave a stale DAU behind.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
)

from models.catalogue import PERSONAS, PersonaName, endpoints, read_steps
from models.errors import ParameterError, ProfileError, UnknownNameError

__all__ = [
    "DEFAULT_PROFILE_RESOURCE",
    "SCENARIO_NAMES",
    "SHARE_TOLERANCE",
    "AlertRule",
    "Alerts",
    "Autoscaling",
    "Background",
    "Breaker",
    "Breakers",
    "Business",
    "Cache",
    "CacheTier",
    "Cost",
    "CostClaim",
    "Database",
    "DatabaseTier",
    "DayCurve",
    "DayOne",
    "Demand",
    "EndpointSlo",
    "Fault",
    "FaultKind",
    "Gates",
    "Infrastructure",
    "Journeys",
    "Lab",
    "Name",
    "NonNegative",
    "NonNegativeInt",
    "Persona",
    "Personas",
    "Population",
    "Positive",
    "PositiveInt",
    "Profile",
    "ProfileError",
    "RateLimits",
    "Ratio",
    "Report",
    "Retries",
    "Scenario",
    "Slo",
    "Stage",
    "TargetConfig",
    "TargetLogin",
    "TargetMetrics",
    "default_profile_text",
    "load_profile",
    "merge",
    "overlay",
    "profile_schema",
    "read_toml",
    "validate_profile",
]

DEFAULT_PROFILE_RESOURCE = "default_profile.toml"
SHARE_TOLERANCE = 1e-9
MIX_TOLERANCE = 1e-3
"""A measured endpoint mix is written rounded; its shares may miss 1 by that much."""
LAB_SERVICE_CORES = 1.0
"""The cores the lab pins its instances (and PostgreSQL) to: the machine's first (docs/lab.md)."""

SCENARIO_NAMES = frozenset(
    {
        "smoke", "load", "stress", "day1", "day1-hold", "spike", "soak", "step",
        "chaos-db", "chaos-payments", "chaos-notify", "chaos-worker", "chaos-loadgen",
        "chaos-instance", "chaos-replica", "chaos-cache",
    }
)  # fmt: skip


# --- Constrained number types: the message is what the user reads after "key = value: " ------


def _check(predicate: Callable[[float], bool], expected: str) -> AfterValidator:
    def validate(value: float) -> float:
        if (isinstance(value, float) and math.isnan(value)) or not predicate(value):
            raise ValueError(expected)
        return value

    return AfterValidator(validate)


def _not_bool_or_text(value: Any) -> Any:
    """Numbers must be TOML numbers: pydantic would otherwise read ``users = true`` as 1 and
    ``dau_ratio = "0.4"`` as 0.4, and a quoted or boolean typo would pass silently."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        raise ValueError("must be a number, not text (remove the quotes)")
    return value


_Number = BeforeValidator(_not_bool_or_text)

Ratio = Annotated[float, _Number, _check(lambda v: 0.0 <= v <= 1.0, "must be between 0 and 1")]
#: The share of the population that uses the service: at 0 there is no load to size, and the
#: sizing, which divides by the requests per user, would divide by zero.
ActiveRatio = Annotated[
    float,
    _Number,
    _check(
        lambda v: 0.0 < v <= 1.0, "must be between 0 and 1, above 0 (0 leaves no one to plan for)"
    ),
]
Positive = Annotated[
    float, _Number, _check(lambda v: 0.0 < v < math.inf, "must be a positive number")
]
NonNegative = Annotated[float, _Number, _check(lambda v: 0.0 <= v < math.inf, "must be >= 0")]
PositiveInt = Annotated[int, _Number, _check(lambda v: v >= 1, "must be a whole number >= 1")]
NonNegativeInt = Annotated[int, _Number, _check(lambda v: v >= 0, "must be a whole number >= 0")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty (reports name the launch after it)")
    return value


Name = Annotated[str, AfterValidator(_not_blank)]


class _Section(BaseModel):
    """Base of every profile table: immutable, and unknown keys are errors (typos must fail)."""

    # Field docstrings become descriptions in the JSON Schema (`harness profile schema`).
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Population(_Section):
    users: PositiveInt
    dau_ratio: ActiveRatio
    concurrency_ratio: ActiveRatio
    session_minutes: Positive = 20.0
    """Mean time a user stays signed in: with N online, N / session_minutes sessions (and
    logins) start per minute (models/sessions.py)."""


class Persona(_Section):
    share: Ratio
    think_time_s: Positive
    think_time_distribution: Literal["exponential", "constant", "uniform"] = "exponential"
    description: str = ""
    steps: dict[str, NonNegative] = Field(default_factory=dict)
    requests_per_cycle: Positive = 1.0
    """A persona of your own: requests each user makes between two think times (the bundled
    personas' come from their screens)."""


class Personas(RootModel[dict[str, Persona]]):
    """The personas by name, any names, with shares that sum to 1.

    The bundled journeys and the marketplace model know exactly three (homeowner, contractor,
    operator: :data:`models.catalogue.PERSONAS`) and reach them through :meth:`marketplace`;
    a profile for a service of your own names its own, played by your own locustfile.
    """

    model_config = ConfigDict(frozen=True)

    def get(self, name: str) -> Persona:
        return self.root[name]

    def items(self) -> Iterator[tuple[str, Persona]]:
        yield from self.root.items()

    def names(self) -> tuple[str, ...]:
        return tuple(self.root)

    def is_marketplace(self) -> bool:
        """Whether these are the bundled journeys' three personas (what the model needs)."""
        return set(self.root) == set(PERSONAS)

    def marketplace(self) -> Iterator[tuple[PersonaName, Persona]]:
        """The bundled journeys' personas in catalogue order; a ProfileError when the profile
        names others (the catalogue has no screens for them)."""
        if not self.is_marketplace():
            raise ProfileError(
                "profile",
                [
                    f"personas = {', '.join(self.root)}: the bundled journeys and the model "
                    f"know {', '.join(PERSONAS)} only; personas of your own are played by "
                    "your own locustfile (harness run --locustfile FILE), which the model "
                    "cannot predict"
                ],
            )
        for name in PERSONAS:
            yield name, self.root[name]


class Business(_Section):
    jobs_per_day: NonNegativeInt
    bids_per_day: NonNegativeInt
    messages_per_day: NonNegativeInt
    write_fraction: Annotated[
        float, _Number, _check(lambda v: 0.0 <= v < 1.0, "must be >= 0 and below 1")
    ]
    awards_per_job: Ratio
    withdrawals_per_bid: Ratio


class EndpointSlo(_Section):
    """Objectives of one endpoint (``"GET /items/{id}"``) over the whole run; absent: none."""

    p95_ms: Positive | None = None
    p99_ms: Positive | None = None
    error_rate: Ratio | None = None


class Slo(_Section):
    page_p95_ms: Positive
    api_p50_ms: Positive
    api_p95_ms: Positive
    error_rate: Ratio
    availability: Ratio
    api_p99_ms: Positive | None = None
    """Absent: no p99 objective (gated per stage and overall, like p95)."""
    throughput_min_rps: NonNegative | None = None
    """A floor on the whole run's API requests per second; absent: none."""
    endpoints: dict[str, EndpointSlo] = Field(default_factory=dict)


class AlertRule(_Section):
    metric: Literal[
        "error_rate", "p95_ms", "cpu", "db_connections", "memory", "disk", "cache_hit_ratio"
    ]
    op: Literal[">", "<"]
    threshold: NonNegative

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.op == ">" else value < self.threshold


class Alerts(_Section):
    for_s: NonNegative
    critical: tuple[AlertRule, ...]
    warning: tuple[AlertRule, ...]


class Stage(_Section):
    users: NonNegativeInt
    duration_s: Positive
    spawn_rate: Positive


class DayCurve(_Section):
    peak_users: PositiveInt
    duration_s: Positive
    spawn_rate: Positive


FaultKind = Literal["db", "payments", "notify", "worker", "loadgen", "instance", "replica", "cache"]


class Fault(_Section):
    """A fault a chaos scenario injects while its load runs (harness/run/chaos/ does it).

    Times are seconds after the load starts and shrink with ``--duration-scale`` like the
    stages; ``recovery_s`` and ``drain_s`` do not (they are the service's own clocks:
    breaker resets, outbox backoff).
    """

    kind: FaultKind
    start_s: Positive
    duration_s: NonNegative
    """How long the fault lasts; 0 for an instant one (a killed process)."""
    error_budget: Ratio
    """Largest share of requests allowed to fail from the fault's start to recovery."""
    recovery_s: Positive
    """After the fault ends, errors must be back to normal (and the dependency's breaker
    closed, the killed worker replaced) within this many seconds."""
    drain_s: Positive = 60.0
    """After the load, every outbox message must be delivered and every payment hold
    settled within this many seconds."""


class Scenario(_Section):
    description: str = ""
    stages: tuple[Stage, ...] | None = None
    day_curve: DayCurve | None = None
    fault: Fault | None = None


class Autoscaling(_Section):
    min_instances: PositiveInt
    max_instances: PositiveInt
    scale_up_cpu: Ratio
    scale_down_cpu: Ratio
    scale_up_p95_ms: Positive
    cooldown_s: NonNegative
    provisioning_delay_s: NonNegative
    evaluation_period_s: Positive


class Database(_Section):
    pool_min: NonNegativeInt
    """Server connections to the primary, at least (the pooler's, or the sum of the workers')."""
    pool_max: PositiveInt
    """Server connections to the primary, at most."""
    acquire_timeout_s: Positive
    """Waiting longer than this for a connection is an error (503)."""
    read_replicas: NonNegativeInt
    """Streaming replicas serving the reads that tolerate lag (``READ_REPLICA_ENDPOINTS``)."""
    headroom: NonNegative
    pooler: bool
    """A transaction-mode pooler (PgBouncer) holds ``pool_min``..``pool_max`` server
    connections; without one, every worker's own pool opens its connections to the database."""
    worker_pool_size: PositiveInt
    """Each worker process's own client pool: the connections it can hold at once."""
    max_client_connections: PositiveInt
    """The pooler's client limit (PgBouncer's ``max_client_conn``)."""
    read_your_writes_s: NonNegative
    """A user who wrote within this many seconds reads from the primary, not a replica."""
    cpu_share_of_db_time: Ratio = 0.5
    """Of a query's connection time, the share that is the database server's CPU (the rest:
    round trips, I/O, locks): the primary's cores are sized from it (models/cost.py)."""
    cpu_target: Annotated[
        float, _Number, _check(lambda v: 0.0 < v <= 1.0, "must be above 0 and at most 1")
    ] = 0.7
    """The primary's CPU utilization a tier is chosen to stay under."""


class Cache(_Section):
    """A cache of hot reads (``CACHEABLE_ENDPOINTS``), invalidated by the writes that change
    them."""

    enabled: bool
    ttl_s: Positive
    """How long a cached response lives when no write invalidates it."""
    hit_ratio: Ratio
    """Share of cacheable reads served from the cache (assumed until a run measures it)."""
    hit_cpu_ratio: Ratio = 0.2
    """A hit's CPU as a share of the endpoint's: the stored response is sent, no query runs
    and nothing is serialised."""
    territories: PositiveInt = 50
    """Territories with a job board of their own (the working set, models/cost.py)."""
    categories: PositiveInt = 10
    """Job categories a board is filtered by."""
    pages_per_board: PositiveInt = 3
    """Pages of each (territory, category) board that are read often enough to stay cached."""
    page_kb: Positive = 20.0
    """One cached page of jobs, serialised."""
    session_kb: NonNegative = 1.0
    """What the cache keeps per signed-in user (session, rate-limit counters)."""
    memory_overhead: NonNegative = 0.5
    """Memory beyond the data: the store's own overhead, fragmentation and headroom."""


class RateLimits(_Section):
    anonymous: PositiveInt
    authenticated: PositiveInt
    pro: PositiveInt
    operator: PositiveInt


class Breaker(_Section):
    failures: PositiveInt
    timeout_s: Positive
    reset_s: Positive


class Breakers(_Section):
    database: Breaker
    ai: Breaker
    payments: Breaker
    sms: Breaker
    email: Breaker
    storage: Breaker


class Retries(_Section):
    """How the service retries work that a dependency's outage left undone."""

    payment_retry_s: Positive
    """Interval between tries of a payment-pending award's hold."""
    outbox_backoff_max_s: Positive
    """Longest wait between two delivery tries of one notification (backoff doubles up to it)."""


class Infrastructure(_Section):
    instance_vcpus: Positive
    """Cores per app instance; a fraction is a CPU limit (0.25 = a quarter of a core)."""
    workers_per_instance: PositiveInt
    instance_memory_gb: Positive
    load_balancer: Literal["leastconn", "random"]
    """How the load balancer spreads requests over the instances."""
    request_timeout_s: Positive
    """An instance answers 503 when a request has taken longer than this."""
    cpu_quota: bool = False
    """``instance_vcpus`` is a container's CFS quota (workers run at full speed until the
    period's budget is spent, then wait for the next period: models/cpu_quota.py), not a
    virtual machine's cores. The lab's instances are (``lab_profile`` sets it)."""
    cpu_period_ms: Annotated[
        float,
        _Number,
        _check(
            lambda v: 1.0 <= v <= 1000.0,
            "must be between 1 and 1000 ms (the kernel's range for the CFS period)",
        ),
    ] = 100.0
    """The CFS period over which the quota's budget (``instance_vcpus`` x period) is given."""
    shared_cores: Positive | None = None
    """Cores every instance's CFS quota runs on together (the lab pins its instances to one
    service core: ``lab_profile`` sets it); in a backlog each instance gets
    ``shared_cores / instances`` of them while its budget lasts, so it is spent more slowly
    and the stall that follows is shorter (models/cpu_quota.py). Absent: each instance's
    quota runs on cores of its own."""
    autoscaling: Autoscaling
    database: Database
    cache: Cache
    rate_limits: RateLimits
    breakers: Breakers
    retries: Retries


def _between(low: float, high: float, unit: str) -> AfterValidator:
    return _check(lambda v: low <= v <= high, f"must be between {low:g} and {high:g} {unit}")


DemandMs = Annotated[float, _Number, _between(0.0, 10_000.0, "ms")]
PerNotification = Annotated[float, _Number, _between(0.0, 10.0, "deliveries per notifying write")]
PerAward = Annotated[float, _Number, _between(0.0, 100.0, "retries per award")]
PerJob = Annotated[float, _Number, _between(0.0, 50.0, "photos per job posted")]


class Background(_Section):
    """Work the service does that no user waits for (models/background.py): it takes CPU on
    the app instances and time on the primary."""

    deliveries_per_notification: PerNotification = 1.0
    """Outbox deliveries per bid, award and message (each notifies one person)."""
    outbox_cpu_ms: DemandMs = 1.5
    outbox_db_ms: DemandMs = 1.0
    payment_retries_per_award: PerAward = 0.0
    """Tries of a payment hold after the first, per award."""
    payment_retry_cpu_ms: DemandMs = 3.0
    payment_retry_db_ms: DemandMs = 2.0
    photos_per_job: PerJob = 0.0
    """Photo uploads per job posted (``POST /jobs/{job_id}/photos``)."""
    upload_cpu_ms: DemandMs = 20.0
    upload_db_ms: DemandMs = 1.0


class Lab(_Section):
    """Launch day in miniature: the topology ``--lab`` starts on this machine (docs/lab.md)."""

    instances: PositiveInt
    """App instances behind the load balancer (HAProxy)."""
    cpu_limit: Positive
    """Cores per instance, held by the kernel like a container's limit (CFS quota)."""
    workers_per_instance: PositiveInt
    pooler: bool
    """PgBouncer between the instances and PostgreSQL."""
    read_replicas: NonNegativeInt
    """Streaming replicas of the lab's own PostgreSQL primary."""
    cache: bool
    """Redis caches the hot reads."""


class Demand(_Section):
    """Service demand of one endpoint: CPU on an app worker, busy time on a DB connection."""

    cpu_ms: NonNegative
    db_ms: NonNegative


class DatabaseTier(_Section):
    name: str
    max_connections: PositiveInt
    monthly_usd: NonNegative
    vcpus: Positive | None = None
    """The tier's cores; absent: the tier is chosen by connections alone."""


class CacheTier(_Section):
    name: str
    memory_gb: Positive
    monthly_usd: NonNegative


class CostClaim(_Section):
    users: PositiveInt
    monthly_usd: NonNegative


class Cost(_Section):
    instance_hourly_usd: NonNegative
    hours_per_month: Positive
    cache_monthly_usd: NonNegative
    storage_cdn_per_user_monthly_usd: NonNegative
    monitoring_base_monthly_usd: NonNegative
    monitoring_per_instance_monthly_usd: NonNegative
    database_tiers: tuple[DatabaseTier, ...]
    cache_tiers: tuple[CacheTier, ...] = ()
    """The cheapest tier holding the cache's working set is priced; empty: the flat
    ``cache_monthly_usd``."""
    source_breakdown: dict[str, NonNegative]
    claims: tuple[CostClaim, ...]


class DayOne(_Section):
    launch_hour: Annotated[
        int, _Number, _check(lambda v: 0 <= v <= 23, "must be an hour from 0 to 23")
    ]
    hourly_fraction_of_peak: tuple[Ratio, ...]


class Gates(_Section):
    abort_window_s: Positive
    loadgen_cpu_warning: Ratio
    loadgen_cpu_unreliable: Ratio


def _path_or_url(value: str) -> str:
    if value and not value.startswith(("/", "http://", "https://")):
        raise ValueError("must be a path starting with / or an http(s) URL")
    return value


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError('must be a path starting with / ("/" for the home page)')
    return value


UrlPath = Annotated[str, AfterValidator(_path)]
OptionalUrl = Annotated[str, AfterValidator(_path_or_url)]


class TargetLogin(_Section):
    """One login the harness makes before any load, to prove the credentials work (your
    locustfile logs its own users in); an empty path: none."""

    path: OptionalUrl = ""
    method: Literal["POST", "GET"] = "POST"
    body: dict[str, str] = Field(default_factory=dict)
    """Sent as JSON (``form = true``: as a form)."""
    form: bool = False
    expect_status: Annotated[int, _check(lambda v: 100 <= v <= 399, "must be 100-399")] = 200


class TargetMetrics(_Section):
    """Where the target's Prometheus metrics are and what its labels are called; an empty
    ``url``: none (the reconciliation and calibration are then skipped, with the reason)."""

    url: OptionalUrl = "/metrics"
    """A path on the target or a full URL (node_exporter's, say)."""
    requests_metric: str = "http_requests_total"
    route_label: str = "route"
    method_label: str = "method"
    status_label: str = "status"
    cpu_metric: Literal["process_cpu_seconds_total", "node_cpu_seconds_total"] = (
        "process_cpu_seconds_total"
    )
    """Server CPU: the process's own counter (every Prometheus client library has it), or
    node_exporter's per-CPU counter (every mode but idle and iowait counted as busy)."""
    route_cpu_metric: str = "http_request_cpu_seconds_total"
    """CPU seconds per route, with the same labels: what calibration divides by requests."""


class TargetConfig(_Section):
    """A target given with ``harness run --host``: what it offers the harness. The bundled
    service is always checked its own way."""

    ready_path: UrlPath = "/health/ready"
    """Answers 200 when the target takes load (``/`` for one without a readiness check)."""
    health_path: UrlPath = "/health"
    """Probed once a second for availability (the share answered 200)."""
    login: TargetLogin = TargetLogin()
    metrics: TargetMetrics = TargetMetrics()


class Journeys(_Section):
    """Who the simulated users are: the bundled journeys, or a locustfile of your own."""

    locustfile: str = ""
    """Your own Locust user classes (a path; relative to the current directory); empty: the
    bundled journeys. ``harness run --locustfile`` overrides it."""


class Report(_Section):
    regression_threshold: Ratio


class Profile(_Section):
    """The whole workload profile. Build it with :func:`load_profile`, not directly."""

    schema_version: Literal[1]
    name: Name
    population: Population
    personas: Personas
    business: Business
    slo: Slo
    alerts: Alerts
    scenarios: dict[str, Scenario]
    infrastructure: Infrastructure
    lab: Lab
    service_demands: dict[str, Demand]
    background: Background = Background()
    cost: Cost
    day_one: DayOne
    gates: Gates
    report: Report
    journeys: Journeys = Journeys()
    target: TargetConfig = TargetConfig()
    endpoint_mix: dict[str, Ratio] = Field(default_factory=dict)
    """Personas of your own: each endpoint's share of the requests (``harness calibrate``
    measures it), which the model takes in place of the bundled personas' screens."""

    # Derived quantities: functions of the stored numbers, never stored themselves.
    def dau(self) -> float:
        """Daily active users: users x DAU ratio (160,000 for the default profile)."""
        return self.population.users * self.population.dau_ratio

    def peak_concurrent(self) -> float:
        """Users online at the peak: DAU x concurrency ratio (20,000 for the default)."""
        return self.dau() * self.population.concurrency_ratio

    def scenario_stages(self, name: str, scale: float = 1.0) -> tuple[Stage, ...]:
        """The stage table of scenario ``name``, user counts multiplied by ``scale``.

        A ``day_curve`` scenario becomes one stage per hour of the day-one curve, the day
        compressed into the scenario's duration.
        """
        if name not in self.scenarios:
            known = ", ".join(sorted(self.scenarios))
            raise UnknownNameError(f"unknown scenario {name!r} (known: {known})")
        if not scale > 0:
            raise ParameterError(f"scale must be positive, got {scale}")
        scenario = self.scenarios[name]
        if scenario.stages is not None:
            stages = scenario.stages
        else:
            curve = scenario.day_curve
            assert curve is not None  # guaranteed by validation
            hours = self.day_one.hourly_fraction_of_peak
            stages = tuple(
                Stage(
                    users=round(curve.peak_users * fraction),
                    duration_s=curve.duration_s / len(hours),
                    spawn_rate=curve.spawn_rate,
                )
                for fraction in hours
            )
        return tuple(
            Stage(
                users=max(0, round(s.users * scale)),
                duration_s=s.duration_s,
                spawn_rate=max(s.spawn_rate * scale, 0.1),
            )
            for s in stages
        )

    def lab_profile(self) -> Profile:
        """The profile with the lab's topology as its infrastructure: what a run on the lab
        resolves to, and what the model predicts for it. The lab's instances are a fixed
        fleet (autoscaling pinned to ``lab.instances``), each ``lab.cpu_limit`` cores."""
        lab = self.lab
        changes = {
            "infrastructure": {
                "instance_vcpus": lab.cpu_limit,
                "cpu_quota": True,
                "shared_cores": LAB_SERVICE_CORES,
                "workers_per_instance": lab.workers_per_instance,
                "autoscaling": {"min_instances": lab.instances, "max_instances": lab.instances},
                "database": {"pooler": lab.pooler, "read_replicas": lab.read_replicas},
                "cache": {"enabled": lab.cache},
            }
        }
        return validate_profile(merge(self.model_dump(mode="json"), changes), "lab profile")

    def to_toml(self) -> str:
        """The resolved profile as TOML, loadable again with :func:`load_profile`."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))


# --- Loading ---------------------------------------------------------------------------------


def default_profile_text() -> str:
    return resources.files("models").joinpath(DEFAULT_PROFILE_RESOURCE).read_text("utf-8")


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key; any other value (lists included) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def overlay(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """A profile file over ``base``: :func:`merge`, except that a ``[personas]`` table naming
    a persona ``base`` lacks replaces ``base``'s whole (your own personas never mix with the
    marketplace's, whose shares would then sum past 1)."""
    merged = merge(base, layer)
    personas, base_personas = layer.get("personas"), base.get("personas")
    if (
        isinstance(personas, Mapping)
        and isinstance(base_personas, Mapping)
        and set(personas) - set(base_personas)
    ):
        merged["personas"] = dict(personas)
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or bad syntax is a ProfileError naming the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ProfileError(str(path), ["file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), [f"not valid TOML: {exc}"]) from None
    except OSError as exc:
        raise ProfileError(str(path), [f"cannot be read: {exc.strerror}"]) from None


def load_profile(
    path: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    extra_layers: list[Path] | None = None,
) -> Profile:
    """The default profile, overlaid with ``path``, then ``extra_layers``, then ``overrides``.

    ``overrides`` is a nested mapping, as from the CLI: ``{"population": {"users": 500000}}``.
    Raises :class:`ProfileError` naming the file, key path, value and expectation.
    """
    data = tomllib.loads(default_profile_text())
    layers: list[Path] = ([Path(path)] if path is not None else []) + list(extra_layers or [])
    source = ", ".join(str(p) for p in layers) or "default profile"
    for layer in layers:
        data = overlay(data, read_toml(layer))
    if overrides:
        data = merge(data, overrides)
        source += " + command-line overrides"
    return validate_profile(data, source)


def _fault_problems(name: str, scenario: Scenario) -> Iterator[str]:
    """A fault must happen while the load runs, and only chaos scenarios have one."""
    fault = scenario.fault
    assert fault is not None
    if not name.startswith("chaos-"):
        yield f"scenarios.{name}.fault: only chaos-* scenarios inject faults"
    elif fault.kind != name.removeprefix("chaos-"):
        yield (
            f"scenarios.{name}.fault.kind = {fault.kind!r}: must be "
            f"{name.removeprefix('chaos-')!r} in {name}"
        )
    if scenario.stages is None:
        return  # a day curve with a fault: its length is checked by the stages rule above
    total = sum(stage.duration_s for stage in scenario.stages)
    if fault.start_s + fault.duration_s >= total:
        yield (
            f"scenarios.{name}.fault.start_s = {fault.start_s}: the fault (start_s + "
            f"duration_s = {fault.start_s + fault.duration_s:g} s) must end before the load "
            f"does ({total:g} s), so recovery can be watched"
        )


def validate_profile(data: Mapping[str, Any], source: str = "profile") -> Profile:
    """Validate a complete profile mapping (types, ranges, unknown keys, consistency).

    Every problem in one pass: when some keys are malformed, the rest is still checked for
    consistency with those keys set aside (:func:`_set_aside`)."""
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        described = [_describe(err) for err in errors]
        raise ProfileError(source, described + _problems_behind(data, errors)) from None
    problems = list(_consistency_problems(profile))
    if problems:
        raise ProfileError(source, problems)
    return profile


_UNSET = object()


def _problems_behind(data: Mapping[str, Any], errors: list[Any]) -> list[str]:
    """The rules spanning several keys that the key errors hid, so that one check reports every
    problem: ``data`` is checked again with each unknown key left out and each wrong value
    replaced by the default profile's, and the problems that involve a replaced key are
    dropped (they would be about the default, not the user's value). Empty when a wrong value
    has no default to stand in (a table the default profile lacks)."""
    repaired: Any = merge({}, data)  # a deep copy
    defaults = tomllib.loads(default_profile_text())
    replaced: list[str] = []
    for error in errors:
        loc = tuple(error["loc"])
        parent = _walk(repaired, loc[:-1])
        if not isinstance(parent, dict):
            return []
        if error["type"] == "extra_forbidden":
            parent.pop(loc[-1], None)
            continue
        default = _walk(defaults, loc)
        if default is _UNSET:
            return []
        parent[loc[-1]] = default
        replaced.append(".".join(str(part) for part in loc))
    try:
        profile = Profile.model_validate(repaired)
    except ValidationError:
        return []
    return [
        problem
        for problem in _consistency_problems(profile)
        if not any(key in problem for key in replaced)
    ]


def _walk(data: Any, loc: tuple[Any, ...]) -> Any:
    """The value at ``loc`` inside nested mappings and lists; ``_UNSET`` when there is none."""
    for part in loc:
        in_table = isinstance(data, Mapping) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_table or in_list):
            return _UNSET
        data = data[part]
    return data


def profile_schema() -> dict[str, Any]:
    """A JSON Schema of a profile file, for editors: every key optional (a file overlays the
    default key by key), unknown keys refused."""
    schema = Profile.model_json_schema()
    _drop_required(schema)
    schema["title"] = "capacity-harness workload profile"
    return schema


def _drop_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for value in node.values():
            _drop_required(value)
    elif isinstance(node, list):
        for value in node:
            _drop_required(value)


def _describe(error: Any) -> str:
    """One pydantic error as ``key.path = value: expectation``."""
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"{path}: unknown key{suggestion} (allowed: {', '.join(allowed)})"
    if error["type"] == "missing":
        return f"{path}: required key is missing"
    return f"{path} = {error.get('input')!r}: {message}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the profile table at ``loc`` (for 'did you mean' on unknown keys)."""
    model: Any = Profile
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if isinstance(model, type) and issubclass(model, RootModel):  # a table of free keys
            values = getattr(model.model_fields["root"].annotation, "__args__", ())
            model = next((v for v in values if _dict_value_model(v) is not None), None)
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:  # inside a dict[str, Model]: the key is free, the value is a model
            model = _dict_value_model(model)
            continue
        model = _model_of(field.annotation)
    return sorted(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = _model_of(candidate) if getattr(candidate, "__args__", None) else None
        if inner is not None:
            return inner
    return None


def _dict_value_model(model: Any) -> Any:
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _consistency_problems(p: Profile) -> Iterator[str]:
    """Rules that span several keys. Each problem names the key a user should change."""
    total_share = sum(persona.share for _, persona in p.personas.items())
    if abs(total_share - 1.0) > SHARE_TOLERANCE:
        shares = ", ".join(f"{n}={persona.share}" for n, persona in p.personas.items())
        yield f"personas.*.share = {shares}: shares must sum to 1 (they sum to {total_share:.12g})"

    yield from _persona_problems(p)

    if p.slo.api_p50_ms > p.slo.api_p95_ms:
        yield (
            f"slo.api_p50_ms = {p.slo.api_p50_ms}: must not exceed slo.api_p95_ms "
            f"({p.slo.api_p95_ms})"
        )

    yield from _scenario_problems(p)

    scaling = p.infrastructure.autoscaling
    if scaling.min_instances > scaling.max_instances:
        yield (
            f"infrastructure.autoscaling.min_instances = {scaling.min_instances}: must not "
            f"exceed max_instances ({scaling.max_instances})"
        )
    if scaling.scale_down_cpu >= scaling.scale_up_cpu:
        yield (
            f"infrastructure.autoscaling.scale_down_cpu = {scaling.scale_down_cpu}: must be "
            f"below scale_up_cpu ({scaling.scale_up_cpu})"
        )
    db = p.infrastructure.database
    if db.pool_min > db.pool_max:
        yield (
            f"infrastructure.database.pool_min = {db.pool_min}: must not exceed pool_max "
            f"({db.pool_max})"
        )
    if db.pooler and db.pool_max > db.max_client_connections:
        yield (
            f"infrastructure.database.pool_max = {db.pool_max}: a pooler's server pool must "
            f"not exceed its max_client_connections ({db.max_client_connections})"
        )

    yield from _demand_problems(p)

    if not p.cost.database_tiers:
        yield "cost.database_tiers: needs at least one tier"
    connections = [t.max_connections for t in p.cost.database_tiers]
    if connections != sorted(connections):
        yield "cost.database_tiers: list tiers by increasing max_connections"
    memory = [t.memory_gb for t in p.cost.cache_tiers]
    if memory != sorted(memory):
        yield "cost.cache_tiers: list tiers by increasing memory_gb"

    hours = p.day_one.hourly_fraction_of_peak
    if len(hours) != 24:
        yield f"day_one.hourly_fraction_of_peak: needs 24 hourly values, got {len(hours)}"
    elif max(hours) <= 0:
        yield "day_one.hourly_fraction_of_peak: at least one hour must have users"

    if p.gates.loadgen_cpu_warning > p.gates.loadgen_cpu_unreliable:
        yield "gates.loadgen_cpu_warning: must not exceed gates.loadgen_cpu_unreliable"


def _demand_problems(p: Profile) -> Iterator[str]:
    """The bundled personas: a demand for every catalogue endpoint and no other. Personas of
    your own: a demand for every endpoint of the measured mix, whose shares sum to 1."""
    if not p.personas.is_marketplace():
        total = sum(p.endpoint_mix.values())
        if p.endpoint_mix and abs(total - 1.0) > MIX_TOLERANCE:
            yield f"endpoint_mix: shares must sum to 1 (they sum to {total:.6g})"
        for endpoint in sorted(set(p.endpoint_mix) - set(p.service_demands)):
            yield f"service_demands: missing a demand for {endpoint!r} (in endpoint_mix)"
        return
    known_endpoints = set(endpoints())
    for endpoint in p.service_demands:
        if endpoint not in known_endpoints:
            yield f"service_demands.{endpoint!r}: unknown endpoint"
    for endpoint in known_endpoints - set(p.service_demands):
        yield f"service_demands: missing a demand for {endpoint!r}"
    if p.endpoint_mix:
        yield "endpoint_mix: only for personas of your own (the bundled ones have screens)"


def _persona_problems(p: Profile) -> Iterator[str]:
    """Screen weights belong to the bundled journeys' personas; a persona of your own has
    none (its journeys are your locustfile's)."""
    if not p.personas.root:
        yield "personas: at least one persona is needed (its share 1)"
    marketplace = p.personas.is_marketplace()
    for name, persona in p.personas.items():
        if not marketplace:
            if persona.steps:
                yield (
                    f"personas.{name}.steps: screens are the bundled journeys' "
                    f"({', '.join(PERSONAS)}); your own personas' journeys are in your "
                    "locustfile, so leave steps out"
                )
            continue
        allowed = read_steps(name)  # type: ignore[arg-type]  # is_marketplace: a PersonaName
        for step_name in persona.steps:
            if step_name not in allowed:
                yield (
                    f"personas.{name}.steps.{step_name}: unknown or write step "
                    f"(read steps of a {name}: {', '.join(allowed)}; write steps are derived "
                    "from [business])"
                )
        if persona.share > 0 and sum(persona.steps.values()) <= 0:
            yield f"personas.{name}.steps: a persona with a share needs a positive step weight"


def _scenario_problems(p: Profile) -> Iterator[str]:
    """Every scenario: a known name, one load shape, ramps that fit their stages, a fault
    only where a chaos scenario needs one."""
    for scenario_name, scenario in p.scenarios.items():
        if scenario_name not in SCENARIO_NAMES:
            known = ", ".join(sorted(SCENARIO_NAMES))
            yield f"scenarios.{scenario_name}: unknown scenario (known: {known})"
        if (scenario.stages is None) == (scenario.day_curve is None):
            yield f"scenarios.{scenario_name}: give exactly one of 'stages' or 'day_curve'"
        if scenario.stages is not None:
            if not scenario.stages:
                yield f"scenarios.{scenario_name}.stages: needs at least one stage"
            previous = 0
            for i, stage in enumerate(scenario.stages):
                ramp_s = abs(stage.users - previous) / stage.spawn_rate
                if ramp_s >= stage.duration_s:
                    yield (
                        f"scenarios.{scenario_name}.stages[{i}].duration_s = {stage.duration_s}: "
                        f"the ramp from {previous} to {stage.users} users at spawn_rate "
                        f"{stage.spawn_rate}/s takes {ramp_s:g} s; it must fit inside the stage"
                    )
                previous = stage.users
        if scenario.fault is not None:
            yield from _fault_problems(scenario_name, scenario)
        elif scenario_name.startswith("chaos-"):
            yield f"scenarios.{scenario_name}: a chaos scenario needs a [fault] table"
