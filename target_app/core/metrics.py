"""Prometheus metrics of the service, in single-process or multiprocess mode.

Names other code scrapes (keep them stable)::

    http_requests_total{route,method,status}          counter
    http_request_duration_seconds{route,method}       histogram (wall clock, server side)
    http_request_cpu_seconds_total{route,method}      counter (see core/cost.py)
    http_request_db_seconds_total{route,method}       counter (time inside DB calls)
    process_cpu_seconds_total                         counter (summed over workers)
    db_pool_connections_in_use                        gauge (summed over live workers)
    db_pool_connections_waiting                       gauge (summed over live workers)
    db_pool_size                                      gauge (configured maximum, summed)
    db_reads_total{route,target}                      counter: routed reads, target primary
                                                      or replica (resilience/read_routing.py)
    cache_requests_total{route,result}                counter: result hit or miss
                                                      (resilience/read_cache.py)

``route`` is the route template (``/jobs/{job_id}``), ``<unmatched>`` for unknown paths.

With several uvicorn workers each process writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape, answered by any one worker, merges them
(prometheus-client's multiprocess mode). prometheus-client decides the mode when it is
imported, from that environment variable, so ``serve`` sets it before the workers start.
The standard process collector does not work across processes, so each worker publishes its
own CPU clock in a ``sum``-mode gauge (dead workers' CPU keeps counting, as a counter must)
and the scrape re-exposes the total as the ``process_cpu_seconds_total`` counter.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

UNMATCHED_ROUTE = "<unmatched>"

#: Latency buckets (seconds): fine below the 150 ms p50 objective, up to the 2 s alert and beyond.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip

_WORKER_CPU = "target_app_worker_cpu_seconds"


class _SummedProcessCpu(Collector):
    """Re-exposes the per-worker CPU gauges as one ``process_cpu_seconds_total`` counter."""

    def __init__(self, source: multiprocess.MultiProcessCollector) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        for metric in self._source.collect():  # type: ignore[no-untyped-call]
            if metric.name != _WORKER_CPU:
                yield metric
                continue
            total = sum(sample.value for sample in metric.samples)
            family = CounterMetricFamily(
                "process_cpu_seconds", "Total user and system CPU time of all workers, seconds."
            )
            family.add_metric([], total)
            yield family


class Metrics:
    """The service's metric objects and how to expose them.

    One instance per application, each with its own registry, so that several apps in one
    process (tests) never share counts.
    """

    def __init__(self, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        own = CollectorRegistry(auto_describe=True)
        self._registry = own
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Server-side wall-clock time per request.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.cpu = Counter(
            "http_request_cpu_seconds_total",
            "CPU time consumed by requests (thread CPU clock; see target_app/core/cost.py).",
            ["route", "method"],
            registry=own,
        )
        self.db = Counter(
            "http_request_db_seconds_total",
            "Time requests spent inside database calls.",
            ["route", "method"],
            registry=own,
        )
        self.pool_in_use = Gauge(
            "db_pool_connections_in_use",
            "Database connections checked out of the pool.",
            multiprocess_mode="livesum",
            registry=own,
        )
        self.pool_waiting = Gauge(
            "db_pool_connections_waiting",
            "Threads waiting to get a database connection.",
            multiprocess_mode="livesum",
            registry=own,
        )
        self.pool_size = Gauge(
            "db_pool_size",
            "Configured maximum of database connections (DB_POOL_MAX per worker).",
            multiprocess_mode="livesum",
            registry=own,
        )
        self.db_reads = Counter(
            "db_reads_total",
            "Reads routed to the primary or to a replica, by route template.",
            ["route", "target"],
            registry=own,
        )
        self.cache_requests = Counter(
            "cache_requests_total",
            "Lookups of cacheable reads, by route template and result (hit or miss).",
            ["route", "result"],
            registry=own,
        )
        if multiproc_dir:
            self._worker_cpu: Gauge | None = Gauge(
                _WORKER_CPU,
                "CPU seconds of this worker process.",
                multiprocess_mode="sum",
                registry=None,
            )
        else:
            self._worker_cpu = None
            ProcessCollector(registry=own)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter, Counter]] = {}
        self._last_cpu_publish = 0.0

    @property
    def registry(self) -> CollectorRegistry:
        """This application's registry (the breakers' gauges are registered here too)."""
        return self._registry

    def observe(
        self, route: str, method: str, status: int, seconds: float, cpu_s: float, db_s: float
    ) -> None:
        """Record one finished request."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # label lookups cost more than the increments: do them once
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.duration.labels(route, method),
                self.cpu.labels(route, method),
                self.db.labels(route, method),
            )
        requests, duration, cpu, db = children
        requests.inc()
        duration.observe(seconds)
        cpu.inc(cpu_s)
        db.inc(db_s)
        if self._worker_cpu is not None:
            self._publish_worker_cpu(min_interval_s=0.5)

    def _publish_worker_cpu(self, min_interval_s: float) -> None:
        # Publishing costs a file write; twice a second is plenty for a scrape every few seconds.
        now = time.monotonic()
        if self._worker_cpu is None or now - self._last_cpu_publish < min_interval_s:
            return
        self._last_cpu_publish = now
        self._worker_cpu.set(time.process_time())

    def render(self) -> bytes:
        """The exposition text of every metric (merged over workers in multiprocess mode)."""
        if self.multiproc_dir:
            self._publish_worker_cpu(min_interval_s=0.0)
            registry = CollectorRegistry()
            source = multiprocess.MultiProcessCollector(None, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
            registry.register(_SummedProcessCpu(source))
            return generate_latest(registry)
        return generate_latest(self._registry)

    def worker_exiting(self) -> None:
        """Drop this worker's live gauges from the shared directory (called at shutdown)."""
        if self.multiproc_dir:
            self._publish_worker_cpu(min_interval_s=0.0)
            multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)  # type: ignore[no-untyped-call]
