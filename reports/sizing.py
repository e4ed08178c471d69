"""The sizing, typed: the ``harness model --json`` object (a run's ``capacity.json``) read into
:class:`SizingFigures`.

Every key docs/capacity-planning.md lists is read with its type. A key that is absent is
``None`` (the report shows "—": a partial sizing still renders); a key whose value has the
wrong type is an :class:`~reports.load.ArtifactError` naming the source, the key path, the
value and the type expected, so a corrupt file is reported rather than drawn wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.load import ArtifactError

__all__ = ["Bounds", "ConnectionFigures", "SizingFigures", "StationFigures", "read_sizing"]


@dataclass(frozen=True, slots=True)
class Bounds:
    """A resource at the peak: what it needs, the bounds it has, whether the need fits."""

    required: int | None
    low: int | None
    high: int | None
    fits: bool | None


@dataclass(frozen=True, slots=True)
class StationFigures:
    """One station of the topology at the peak (``stations[i]`` of the sizing)."""

    name: str
    servers: int | None
    arrival_rps: float | None
    service_ms: float | None
    utilization: float | None
    wait_probability: float | None
    mean_wait_ms: float | None
    """None when the station is overloaded (no steady state)."""
    p95_wait_ms: float | None
    max_wait_s: float | None
    timeout_share: float | None


@dataclass(frozen=True, slots=True)
class ConnectionFigures:
    """Opened and busy connections against the pooler's and the database's limits."""

    pooler: bool | None
    opened_at_min_instances: int | None
    opened_at_max_instances: int | None
    busy_at_peak: float | None
    busy_primary: float | None
    max_client_connections: int | None
    primary_at_max_instances: int | None
    database_tier: str | None
    database_max_connections: int | None
    fits: bool | None
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SizingFigures:
    """The ``harness model --json`` object, typed; ``None`` where a key is absent."""

    users: int | None
    dau: float | None
    peak_concurrent: float | None
    peak_rps: float | None
    instances: Bounds
    db_connections: Bounds
    p50_ms: float | None
    p95_ms: float | None
    utilization: Mapping[str, float]
    """Busy fraction at the peak by resource (``app_cpu``, ``db_connections``)."""
    cost_usd: Mapping[str, float]
    """The monthly bill by component, with ``total``."""
    max_users_by_instances: float | None
    max_users_by_db_pool: float | None
    assumptions: tuple[tuple[str, str], ...]
    """``(key, sentence)`` pairs; the key is empty when the sizing lists plain sentences."""
    stations: tuple[StationFigures, ...] = ()
    connections: ConnectionFigures | None = None
    claim_summaries: tuple[str, ...] = ()
    """Each cost claim explained line by line, one sentence each (``cost_claims[].summary``)."""
    notes: tuple[str, ...] = ()
    """What the model puts beside the calls, one sentence each: the load balancer's policy,
    the CPU quota's throttling, background work, the tiers priced."""

    @property
    def cost_total(self) -> float | None:
        return self.cost_usd.get("total")


class _SizingReader:
    """Typed values out of one sizing object; errors name ``source`` and the key path."""

    def __init__(self, source: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.data = data

    def _value(self, path: str) -> Any:
        value: Any = self.data
        for i, key in enumerate(keys := path.split(".")):
            if value is None:
                return None
            if not isinstance(value, Mapping):
                where = ".".join(keys[:i])
                raise ArtifactError(self.source, f"{where} = {value!r}: expected an object")
            value = value.get(key)
        return value

    def _fail(self, path: str, value: Any, expected: str) -> ArtifactError:
        return ArtifactError(self.source, f"{path} = {value!r}: expected {expected}")

    def number(self, path: str) -> float | None:
        value = self._value(path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(path, value, "a number")
        return float(value)

    def integer(self, path: str) -> int | None:
        value = self._value(path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(path, value, "an integer")
        return value

    def flag(self, path: str) -> bool | None:
        value = self._value(path)
        if value is not None and not isinstance(value, bool):
            raise self._fail(path, value, "true or false")
        return value

    def numbers(self, path: str) -> dict[str, float]:
        """An object of numbers (a number alone counts as one, named ``overall``)."""
        value = self._value(path)
        if value is None:
            return {}
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"overall": float(value)}
        if not isinstance(value, Mapping):
            raise self._fail(path, value, "an object of numbers")
        return {str(k): n for k in value if (n := self.number(f"{path}.{k}")) is not None}

    def bounds(self, path: str, low: str, high: str) -> Bounds:
        return Bounds(
            self.integer(f"{path}.required"),
            self.integer(f"{path}.{low}"),
            self.integer(f"{path}.{high}"),
            self.flag(f"{path}.fits"),
        )

    def text(self, path: str) -> str | None:
        value = self._value(path)
        if value is not None and not isinstance(value, str):
            raise self._fail(path, value, "text")
        return value

    def texts(self, path: str) -> tuple[str, ...]:
        value = self._value(path)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(path, value, "a list of sentences")
        return tuple(value)

    def stations(self) -> tuple[StationFigures, ...]:
        value = self._value("stations")
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self._fail("stations", value, "a list of objects")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self._fail(f"stations.{i}", item, "an object")
            read = _SizingReader(self.source, item)
            out.append(
                StationFigures(
                    name=read.text("name") or f"station {i}",
                    servers=read.integer("servers"),
                    arrival_rps=read.number("arrival_rps"),
                    service_ms=read.number("service_ms"),
                    utilization=read.number("utilization"),
                    wait_probability=read.number("wait_probability"),
                    mean_wait_ms=read.number("mean_wait_ms"),
                    p95_wait_ms=read.number("p95_wait_ms"),
                    max_wait_s=read.number("max_wait_s"),
                    timeout_share=read.number("timeout_share"),
                )
            )
        return tuple(out)

    def claim_summaries(self) -> tuple[str, ...]:
        value = self._value("cost_claims")
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self._fail("cost_claims", value, "a list of objects")
        out = []
        for i, item in enumerate(value):
            summary = _SizingReader(self.source, item).text("summary")
            if summary is not None:
                out.append(summary)
            elif item:
                raise self._fail(f"cost_claims.{i}.summary", None, "a sentence")
        return tuple(out)

    def notes(self) -> tuple[str, ...]:
        """Sentences from ``topology.load_balancer``, ``cpu_quota``, ``background`` and
        ``cost_tiers`` (each absent in a sizing written before them)."""
        out = []
        policy = self.text("topology.load_balancer")
        if policy is not None:
            how = "one shared queue" if policy == "leastconn" else "a queue per instance"
            out.append(f"Load balancer: {policy} ({how}).")
        share = self.number("cpu_quota.throttled_share")
        if share is not None:
            out.append(
                f"CPU quota: {self.number('cpu_quota.quota_cores')} cores per "
                f"{self.number('cpu_quota.period_ms')} ms period at "
                f"{(self.number('cpu_quota.utilization') or 0.0):.0%} of the quota: "
                f"{share:.1%} of periods throttled, {self.number('cpu_quota.extra_ms')} ms "
                "added to the mean response beyond the same worker without the quota."
            )
        streams = self._value("background")
        if isinstance(streams, list):
            for item in streams:
                read = _SizingReader(self.source, item if isinstance(item, Mapping) else {})
                per_call = read.number("per_call") or 0.0
                if per_call > 0:
                    out.append(
                        f"Background work: {read.text('name')}, {per_call:.4f} per call of "
                        f"{read.number('cpu_ms')} ms CPU and {read.number('db_ms')} ms on the "
                        "primary."
                    )
        tier = self.text("cost_tiers.database")
        if tier is not None:
            cache = self.text("cost_tiers.cache")
            out.append(
                f"Database tier '{tier}' for {self.integer('cost_tiers.database_connections')} "
                f"connections and {self.number('cost_tiers.database_cores')} cores"
                + (
                    f"; cache tier '{cache}' for a "
                    f"{(self.number('cost_tiers.cache_gb') or 0.0) * 1024:,.0f} MB working set."
                    if cache
                    else "."
                )
            )
        return tuple(out)

    def connections(self) -> ConnectionFigures | None:
        if self._value("connections") is None:
            return None
        return ConnectionFigures(
            pooler=self.flag("connections.pooler"),
            opened_at_min_instances=self.integer("connections.opened_at_min_instances"),
            opened_at_max_instances=self.integer("connections.opened_at_max_instances"),
            busy_at_peak=self.number("connections.busy_at_peak"),
            busy_primary=self.number("connections.busy_primary"),
            max_client_connections=self.integer("connections.max_client_connections"),
            primary_at_max_instances=self.integer("connections.primary_at_max_instances"),
            database_tier=self.text("connections.database_tier"),
            database_max_connections=self.integer("connections.database_max_connections"),
            fits=self.flag("connections.fits"),
            problems=self.texts("connections.problems"),
        )

    def assumptions(self) -> tuple[tuple[str, str], ...]:
        value = self._value("assumptions")
        if value is None:
            return ()
        if isinstance(value, Mapping):
            return tuple((str(k), str(v)) for k, v in value.items())
        if isinstance(value, Sequence) and not isinstance(value, str):
            return tuple(("", str(item)) for item in value)
        raise self._fail("assumptions", value, "a list of sentences or an object")


def read_sizing(data: Mapping[str, Any], source: str = "capacity.json") -> SizingFigures:
    """The sizing object (``harness model --json``) as :class:`SizingFigures`.

    Raises :class:`~reports.load.ArtifactError` (naming ``source``, the key, the value and
    the type expected) when a key holds a value of the wrong type.
    """
    read = _SizingReader(source, data)
    return SizingFigures(
        users=read.integer("users"),
        dau=read.number("dau"),
        peak_concurrent=read.number("peak_concurrent"),
        peak_rps=read.number("peak_rps"),
        instances=read.bounds("instances", "min", "max"),
        db_connections=read.bounds("db_connections", "pool_min", "pool_max"),
        p50_ms=read.number("latency.p50_ms"),
        p95_ms=read.number("latency.p95_ms"),
        utilization=read.numbers("utilization"),
        cost_usd=read.numbers("cost_monthly_usd"),
        max_users_by_instances=read.number("limits.max_users_by_instances"),
        max_users_by_db_pool=read.number("limits.max_users_by_db_pool"),
        assumptions=read.assumptions(),
        stations=read.stations(),
        connections=read.connections(),
        claim_summaries=read.claim_summaries(),
        notes=read.notes(),
    )
