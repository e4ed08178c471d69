"""What the lab's parts did during a run: sampled each second into ``lab.jsonl``, summed at
each scrape, and summarised into run.json's ``lab`` record (models/lab_records.py).

Each second a :class:`LabSampler` reads every part and keeps one JSON line per reading
(docs/artifacts.md, "lab.jsonl")::

    {"at": unix time, "part": "instance", "name": "instance_1", "cpu_s", "periods",
     "throttled_periods", "throttled_s"}                        each instance's CPU group
    {"at", "part": "haproxy", "server", "status", "sessions_current", "sessions_total",
     "queue_current", "queue_time_ms", "connect_time_ms", "response_time_ms",
     "total_time_ms", "responses_5xx", "failed_checks"}         each instance, as HAProxy sees it
    {"at", "part": "pool", "database", "user", "clients_active", "clients_waiting",
     "servers_active", "servers_idle", "servers_used", "max_wait_s"}    PgBouncer's SHOW POOLS
    {"at", "part": "pooler_traffic", "database", "transactions", "queries", "wait_s",
     "transaction_s"}
    {"at", "part": "replica", "replica", "state", "lag_bytes", "lag_s"}  replication lag
    {"at", "part": "cache_redis", "up", "keys", "used_memory_bytes", "connected_clients",
     "hits", "misses", "error"}                                 the cache's own Redis (--cache)

The cache's hits and misses and the reads per target come from the instances' ``/metrics``
(``cache_requests_total``, ``db_reads_total``), read at the run's scrapes rather than each
second: a scrape costs the CPU-limited instances CPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.lab.cache_redis import CacheRedis
from harness.lab.haproxy import HAProxy
from harness.lab.pgbouncer import PgBouncer
from harness.lab.postgres import LabPostgres
from harness.lab.sampling import Sampler
from harness.lab.topology import LabTopology, placement
from harness.run.lab_instance import LabInstance
from harness.run.scrape import HARNESS_ROUTES, Scrape, parse_metrics
from models.lab_records import (
    BalancerSummary,
    CacheSummary,
    InstanceSummary,
    LabReconciliation,
    LabRecord,
    PoolerSummary,
    ReplicaSummary,
)

Line = dict[str, Any]
SAMPLES_FILE = "lab.jsonl"
#: Routes HAProxy never passes on (its own health checks) or the harness reads directly.
NOT_THROUGH_BALANCER = frozenset({"/health/ready", "/metrics"})


@dataclass
class LabParts:
    """The running lab, as the sampling reads it."""

    topology: LabTopology
    instances: list[LabInstance]
    balancer: HAProxy
    pooler: PgBouncer | None
    postgres: LabPostgres | None
    run_dir: Path
    cache_redis: CacheRedis | None = None


def read_parts(parts: LabParts) -> list[Line]:
    """One reading of every part (module docstring); a part that fails to answer raises, and
    the sampler keeps the error line."""
    now = time.time()
    lines: list[Line] = []
    for instance in parts.instances:
        usage = instance.group.usage()
        lines.append({"at": now, "part": "instance", "name": instance.name, **asdict(usage)})
    for server in parts.balancer.sample():
        lines.append({"part": "haproxy", **asdict(server)})
    if parts.pooler is not None:
        sample = parts.pooler.sample()
        lines.extend({"part": "pool", **asdict(pool)} for pool in sample.pools)
        lines.extend({"part": "pooler_traffic", **asdict(t)} for t in sample.traffic)
    if parts.postgres is not None and parts.postgres.replicas:
        lines.extend({"part": "replica", **asdict(lag)} for lag in parts.postgres.replication_lag())
    if parts.cache_redis is not None:  # a reading of a killed cache says so, never raises
        lines.append({"part": "cache_redis", **asdict(parts.cache_redis.sample())})
    return [{**line, "at": round(float(line["at"]), 3)} for line in lines]


class LabSampler:
    """Every part read each second on a thread of its own (:class:`harness.lab.sampling.
    Sampler`); :meth:`stop` writes ``lab.jsonl``."""

    def __init__(self, parts: LabParts) -> None:
        self.parts = parts
        self.sampler: Sampler[Line] = Sampler(lambda: read_parts(parts))
        self._written = False

    def start(self) -> LabSampler:
        self.sampler.start()
        return self

    def stop(self) -> None:
        self.sampler.stop()
        if self._written:
            return
        self._written = True
        path = self.parts.run_dir / SAMPLES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as file:
            for line in self.sampler.records:
                file.write(json.dumps(line) + "\n")

    @property
    def lines(self) -> list[Line]:
        return self.sampler.records

    @property
    def errors(self) -> list[str]:
        return self.sampler.errors


# --- scrapes ----------------------------------------------------------------------------------


def _counter(text: str, metric: str, label: str) -> dict[str, float]:
    """A counter family's samples summed by one label (empty when the family is absent)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{metric}_total" or (
                sample.name == metric and family.type == "counter"
            ):
                key = sample.labels.get(label, "")
                totals[key] = totals.get(key, 0.0) + float(sample.value)
    return totals


def lab_scrape(parts: LabParts, t_s: float, timeout_s: float) -> Scrape:
    """The instances' metrics summed into one scrape record, plus, under ``lab``: each
    instance's requests on every route and its CPU group's counters, HAProxy's request count,
    the cache's and the reads' counters (``None`` when the service has no such metric), and
    the run's clock origin in unix time (``clock_origin``: ``at`` in lab.jsonl minus it is
    the run's ``t_s``)."""
    origin = time.time() - t_s
    total: Scrape = parse_metrics("", t_s)
    per_instance: dict[str, dict[str, Any]] = {}
    cache: dict[str, float] | None = None
    reads: dict[str, float] | None = None
    for instance in parts.instances:
        text = instance.scrape_text(timeout_s)
        one = parse_metrics(text, t_s)
        _add(total, one)
        hits = _counter(text, "cache_requests", "result")
        if hits:
            cache = {k: (cache or {}).get(k, 0.0) + v for k, v in hits.items()}
        targets = _counter(text, "db_reads", "target")
        if targets:
            reads = {k: (reads or {}).get(k, 0.0) + v for k, v in targets.items()}
        per_instance[instance.name] = {
            "requests": sum(
                entry["requests"]
                for endpoint, entry in one["routes"].items()
                if endpoint.partition(" ")[2] not in NOT_THROUGH_BALANCER
            ),
            **asdict(instance.group.usage()),
        }
    received, passed = parts.balancer.request_counts()
    total["lab"] = {
        "instances": per_instance,
        "balancer_requests": passed,
        "frontend_requests": received,
        "cache": cache,
        "db_reads": reads,
        "clock_origin": round(origin, 3),
    }
    return total


def _add(total: Scrape, one: Scrape) -> None:
    for key in ("cpu_seconds", "pool_in_use", "pool_waiting", "pool_size"):
        total[key] += one[key]
    for endpoint, entry in one["routes"].items():
        into = total["routes"].setdefault(endpoint, dict.fromkeys(entry, 0.0))
        for field, value in entry.items():
            into[field] = into.get(field, 0.0) + value


# --- the run.json record ----------------------------------------------------------------------


def summarise(
    parts: LabParts,
    sampler: LabSampler,
    client_total: int,
    before: Scrape | None,
    after: Scrape | None,
) -> LabRecord:
    """run.json's ``lab`` record: the topology, where it ran, and what each part did over the
    load (between the scrapes before and after it; the whole sampling when they are
    missing)."""
    lines = sampler.lines
    topology = parts.topology
    return LabRecord(
        topology={
            "instances": topology.instances,
            "cpu_limit_cores": topology.cpu_limit,
            "workers_per_instance": topology.workers_per_instance,
            "pool_per_worker": topology.pool_per_worker,
            "database": "postgresql" if topology.postgres else "sqlite",
            "pooler": topology.pooler,
            "read_replicas": topology.read_replicas,
            "cache": topology.cache,
            "balancer": "haproxy leastconn, /health/ready checked every 1 s (5 s timeout), "
            f"{topology.workers_per_instance * topology.pool_per_worker} requests per instance "
            "at once, the rest queued",
        },
        placement=placement(topology),
        instances=_instances(parts, lines, before, after),
        balancer=_balancer(lines),
        pooler=_pooler(lines) if parts.pooler is not None else None,
        replicas=_replicas(lines),
        cache=_cache(before, after) if topology.cache else None,
        reconciliation=_reconciliation(client_total, before, after),
        samples=len(lines),
        sample_errors=tuple(sampler.errors[:20]),
    )


def _span(
    lines: list[Line], part: str, key: str, name: str
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    mine = [line for line in lines if line["part"] == part and line[key] == name]
    return (mine[0], mine[-1]) if mine else None


def _instances(
    parts: LabParts, lines: list[Line], before: Scrape | None, after: Scrape | None
) -> tuple[InstanceSummary, ...]:
    summaries = []
    for instance in parts.instances:
        first_last: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None
        if before is not None and after is not None and "lab" in before and "lab" in after:
            first_last = (
                before["lab"]["instances"][instance.name],
                after["lab"]["instances"][instance.name],
            )
            elapsed = float(after["t_s"]) - float(before["t_s"])
        else:
            first_last = _span(lines, "instance", "name", instance.name)
            elapsed = float(first_last[1]["at"] - first_last[0]["at"]) if first_last else 0.0
        first, last = first_last or ({}, {})
        cpu_s = float(last.get("usage_s", 0.0)) - float(first.get("usage_s", 0.0))
        summaries.append(
            InstanceSummary(
                name=instance.name,
                cpu_limit_cores=parts.topology.cpu_limit,
                cpu_s=round(cpu_s, 4),
                cpu_cores_mean=round(cpu_s / elapsed, 4) if elapsed > 0 else 0.0,
                periods=int(last.get("periods", 0)) - int(first.get("periods", 0)),
                throttled_periods=int(last.get("throttled_periods", 0))
                - int(first.get("throttled_periods", 0)),
                throttled_s=round(
                    float(last.get("throttled_s", 0.0)) - float(first.get("throttled_s", 0.0)), 4
                ),
                alive_at_end=instance.service.alive(),
            )
        )
    return tuple(summaries)


def _balancer(lines: list[Line]) -> tuple[BalancerSummary, ...]:
    servers = sorted({line["server"] for line in lines if line["part"] == "haproxy"})
    summaries = []
    for server in servers:
        mine = [line for line in lines if line["part"] == "haproxy" and line["server"] == server]
        summaries.append(
            BalancerSummary(
                server=server,
                requests=mine[-1]["sessions_total"] - mine[0]["sessions_total"],
                sessions_max=max(line["sessions_current"] for line in mine),
                queue_max=max(line["queue_current"] for line in mine),
                response_time_ms_max=max(line["response_time_ms"] for line in mine),
                responses_5xx=mine[-1]["responses_5xx"] - mine[0]["responses_5xx"],
                last_status=mine[-1]["status"],
            )
        )
    return tuple(summaries)


def _pooler(lines: list[Line]) -> PoolerSummary:
    by_time: dict[float, list[Line]] = {}
    for line in lines:
        if line["part"] == "pool":
            by_time.setdefault(line["at"], []).append(line)

    def peak(key: str) -> int:
        return max((sum(int(p[key]) for p in pools) for pools in by_time.values()), default=0)

    traffic = [line for line in lines if line["part"] == "pooler_traffic"]
    first_at = traffic[0]["at"] if traffic else 0.0
    last_at = traffic[-1]["at"] if traffic else 0.0
    transactions = sum(int(t["transactions"]) for t in traffic if t["at"] == last_at) - sum(
        int(t["transactions"]) for t in traffic if t["at"] == first_at
    )
    return PoolerSummary(
        clients_active_max=peak("clients_active"),
        clients_waiting_max=peak("clients_waiting"),
        servers_active_max=peak("servers_active"),
        servers_idle_max=peak("servers_idle"),
        max_wait_s=max(
            (float(line["max_wait_s"]) for pools in by_time.values() for line in pools),
            default=0.0,
        ),
        transactions=transactions,
    )


def _replicas(lines: list[Line]) -> tuple[ReplicaSummary, ...]:
    names = sorted({line["replica"] for line in lines if line["part"] == "replica"})
    summaries = []
    for name in names:
        mine = [line for line in lines if line["part"] == "replica" and line["replica"] == name]
        lag_bytes = [int(line["lag_bytes"]) for line in mine if line["lag_bytes"] is not None]
        lag_s = [float(line["lag_s"]) for line in mine if line["lag_s"] is not None]
        summaries.append(
            ReplicaSummary(
                name,
                max(lag_bytes) if lag_bytes else None,
                round(max(lag_s), 6) if lag_s else None,
                len(mine),
            )
        )
    return tuple(summaries)


def _cache(before: Scrape | None, after: Scrape | None) -> CacheSummary:
    if before is None or after is None:
        return CacheSummary(0, 0, None, "the instances' /metrics could not be scraped")
    start, end = before.get("lab", {}).get("cache"), after.get("lab", {}).get("cache")
    if end is None:
        return CacheSummary(
            0,
            0,
            None,
            "the service exposes no cache_requests_total metric although CACHE_ENABLED was set",
        )
    hits = round(end.get("hit", 0.0) - (start or {}).get("hit", 0.0))
    misses = round(end.get("miss", 0.0) - (start or {}).get("miss", 0.0))
    total = hits + misses
    return CacheSummary(hits, misses, round(hits / total, 4) if total else None)


def _reconciliation(
    client_total: int, before: Scrape | None, after: Scrape | None
) -> LabReconciliation | None:
    if before is None or after is None or "lab" not in before or "lab" not in after:
        return None
    balancer = round(after["lab"]["balancer_requests"] - before["lab"]["balancer_requests"])
    instances = round(
        sum(one["requests"] for one in after["lab"]["instances"].values())
        - sum(one["requests"] for one in before["lab"]["instances"].values())
    )
    probes = sum(
        round(entry["requests"] - before["routes"].get(endpoint, {}).get("requests", 0.0))
        for endpoint, entry in after["routes"].items()
        if endpoint.partition(" ")[2] in HARNESS_ROUTES - NOT_THROUGH_BALANCER
    )
    return LabReconciliation(
        client=client_total,
        balancer=balancer,
        instances=instances,
        match=balancer == instances,
        note=f"HAProxy and the instances count the harness's {probes} /health probe(s) too",
    )
