"""The ``lab`` section of ``run.json``: the topology a run ran on and what its parts did.

A run on the lab (``harness run --instances K ...``, docs/lab.md) samples every part each second
into ``lab.jsonl``; this record is the summary beside the run's other records, written by the
harness and read back by the report (docs/artifacts.md lists every key)::

    LabRecord              lab
      InstanceSummary        instances[]   CPU used and throttling of each instance's group
      BalancerSummary        balancer[]    HAProxy's view of each instance
      PoolerSummary          pooler        PgBouncer's pools (None: no pooler)
      ReplicaSummary         replicas[]    replication lag per replica
      CacheSummary           cache         hits and misses (None: no cache)
      LabReconciliation      reconciliation  client, HAProxy and the instances' counts
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from models.json_fields import JsonFields

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "BalancerSummary",
    "CacheSummary",
    "InstanceSummary",
    "LabReconciliation",
    "LabRecord",
    "PoolerSummary",
    "ReplicaSummary",
]


def _flat(record: DataclassInstance) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True, slots=True)
class InstanceSummary:
    """One instance's CPU group over the load: CPU seconds used, the mean cores that is, the
    CFS periods with work, how many ran out of quota, and the time spent waiting for the next
    period."""

    name: str
    cpu_limit_cores: float
    cpu_s: float
    cpu_cores_mean: float
    periods: int
    throttled_periods: int
    throttled_s: float
    alive_at_end: bool

    def to_json(self) -> dict[str, object]:
        return _flat(self)

    @classmethod
    def from_json(cls, f: JsonFields) -> InstanceSummary:
        return InstanceSummary(
            f.text("name"),
            f.number("cpu_limit_cores"),
            f.number("cpu_s"),
            f.number("cpu_cores_mean"),
            f.integer("periods"),
            f.integer("throttled_periods"),
            f.number("throttled_s"),
            f.flag("alive_at_end"),
        )


@dataclass(frozen=True, slots=True)
class BalancerSummary:
    """HAProxy's view of one instance: requests sent to it over the load, the most in flight
    and queued at once, its response time (HAProxy's average over the last 1024 requests, at
    its highest), 5xx answers, and its state at the last sample."""

    server: str
    requests: int
    sessions_max: int
    queue_max: int
    response_time_ms_max: int
    responses_5xx: int
    last_status: str

    def to_json(self) -> dict[str, object]:
        return _flat(self)

    @classmethod
    def from_json(cls, f: JsonFields) -> BalancerSummary:
        return BalancerSummary(
            f.text("server"),
            f.integer("requests"),
            f.integer("sessions_max"),
            f.integer("queue_max"),
            f.integer("response_time_ms_max"),
            f.integer("responses_5xx"),
            f.text("last_status"),
        )


@dataclass(frozen=True, slots=True)
class PoolerSummary:
    """PgBouncer's pools at their busiest (over every sample), and its transactions."""

    clients_active_max: int
    clients_waiting_max: int
    servers_active_max: int
    servers_idle_max: int
    max_wait_s: float
    transactions: int

    def to_json(self) -> dict[str, object]:
        return _flat(self)

    @classmethod
    def from_json(cls, f: JsonFields) -> PoolerSummary:
        return PoolerSummary(
            f.integer("clients_active_max"),
            f.integer("clients_waiting_max"),
            f.integer("servers_active_max"),
            f.integer("servers_idle_max"),
            f.number("max_wait_s"),
            f.integer("transactions"),
        )


@dataclass(frozen=True, slots=True)
class ReplicaSummary:
    """A replica's lag at its worst (None: never reported)."""

    name: str
    lag_bytes_max: int | None
    lag_s_max: float | None
    samples: int

    def to_json(self) -> dict[str, object]:
        return _flat(self)

    @classmethod
    def from_json(cls, f: JsonFields) -> ReplicaSummary:
        return ReplicaSummary(
            f.text("name"), f.opt_integer("lag_bytes_max"), f.opt_number("lag_s_max"),
            f.integer("samples"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CacheSummary:
    """The service's cache over the load: hits and misses summed over the instances, the hit
    ratio (None without a cacheable read), or why it could not be measured."""

    hits: int
    misses: int
    hit_ratio: float | None
    unavailable: str | None = None

    def to_json(self) -> dict[str, object]:
        return _flat(self)

    @classmethod
    def from_json(cls, f: JsonFields) -> CacheSummary:
        return CacheSummary(
            f.integer("hits"), f.integer("misses"), f.opt_number("hit_ratio"),
            f.opt_text("unavailable"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabReconciliation:
    """The three counts of the load's requests: the load generator's, HAProxy's (requests it
    passed to an instance, the harness's /health probes included), and the instances'
    ``http_requests_total`` summed (every route but HAProxy's own checks and the scrapes).
    ``match``: HAProxy and the instances agree exactly."""

    client: int
    balancer: int
    instances: int
    match: bool
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return _flat(self)

    @classmethod
    def from_json(cls, f: JsonFields) -> LabReconciliation:
        return LabReconciliation(
            f.integer("client"), f.integer("balancer"), f.integer("instances"), f.flag("match"),
            f.opt_text("note") or "",
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabRecord:
    """The ``lab`` section of ``run.json`` (module docstring). ``topology`` and ``placement``
    are the shape asked for and where each part ran (their own keys: docs/artifacts.md)."""

    topology: Mapping[str, object]
    placement: Mapping[str, object]
    instances: tuple[InstanceSummary, ...]
    balancer: tuple[BalancerSummary, ...]
    pooler: PoolerSummary | None
    replicas: tuple[ReplicaSummary, ...]
    cache: CacheSummary | None
    reconciliation: LabReconciliation | None
    samples: int
    """Lines in ``lab.jsonl``."""
    sample_errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "topology": dict(self.topology),
            "placement": dict(self.placement),
            "instances": [i.to_json() for i in self.instances],
            "balancer": [b.to_json() for b in self.balancer],
            "pooler": None if self.pooler is None else self.pooler.to_json(),
            "replicas": [r.to_json() for r in self.replicas],
            "cache": None if self.cache is None else self.cache.to_json(),
            "reconciliation": None
            if self.reconciliation is None
            else self.reconciliation.to_json(),
            "samples": self.samples,
            "sample_errors": list(self.sample_errors),
        }

    @classmethod
    def from_json(cls, f: JsonFields) -> LabRecord:
        pooler, cache, recon = (f.opt_child(k) for k in ("pooler", "cache", "reconciliation"))
        return LabRecord(
            topology=dict(f.child("topology").data),
            placement=dict(f.child("placement").data),
            instances=tuple(InstanceSummary.from_json(i) for i in f.items("instances")),
            balancer=tuple(BalancerSummary.from_json(b) for b in f.items("balancer")),
            pooler=None if pooler is None else PoolerSummary.from_json(pooler),
            replicas=tuple(ReplicaSummary.from_json(r) for r in f.items("replicas")),
            cache=None if cache is None else CacheSummary.from_json(cache),
            reconciliation=None if recon is None else LabReconciliation.from_json(recon),
            samples=f.integer("samples"),
            sample_errors=f.opt_texts("sample_errors"),
        )
