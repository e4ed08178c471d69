"""Scraping the service's ``/metrics`` during a run, into ``server.json``.

A scrape is one snapshot of the service's cumulative counters (docs/artifacts.md,
"server.json")::

    {t_s, cpu_seconds, pool_in_use, pool_waiting, pool_size,
     routes: {"GET /jobs/{job_id}": {requests, errors, client_errors, cpu_seconds, db_seconds,
                                     duration_seconds}}}

Counters only grow, so the difference between two scrapes is what happened in between: the
calibration divides CPU seconds by requests to get a service demand, the alerts divide CPU
seconds by wall time to get a utilization, and the reconciliation compares request deltas with
what the load generator counted. ``errors`` counts 5xx responses, ``client_errors`` 4xx.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from models.profile import TargetMetrics

Scrape = dict[str, Any]
"""One snapshot, as written to ``server.json``."""

#: Routes that the harness itself calls (probe, readiness, scrape, a chaos run's fault
#: injection): never part of the workload.
HARNESS_ROUTES = frozenset(
    {"/health", "/health/ready", "/metrics", "/admin/faults", "/admin/faults/{dependency}"}
)


def _route_entry(routes: dict[str, dict[str, float]], method: str, route: str) -> dict[str, float]:
    key = f"{method} {route}"
    if key not in routes:
        routes[key] = {
            "requests": 0.0,
            "errors": 0.0,
            "client_errors": 0.0,
            "cpu_seconds": 0.0,
            "db_seconds": 0.0,
            "duration_seconds": 0.0,
        }
    return routes[key]


#: node_exporter's CPU modes that are not work.
IDLE_MODES = frozenset({"idle", "iowait"})
BUNDLED_METRICS = TargetMetrics()


def parse_metrics(text: str, t_s: float, spec: TargetMetrics = BUNDLED_METRICS) -> Scrape:
    """Turn one Prometheus exposition into a scrape record at ``t_s`` seconds into the run.

    ``spec`` names the request counter, its labels and the CPU counter (the profile's
    ``[target.metrics]``; the bundled service's by default). Unknown metric families are
    ignored, missing ones stay 0, so a service that exposes only part of the contract still
    scrapes (the reconciliation then says what it could not check).
    """
    routes: dict[str, dict[str, float]] = {}
    record: Scrape = {
        "t_s": round(t_s, 3),
        "cpu_seconds": 0.0,
        "pool_in_use": 0.0,
        "pool_waiting": 0.0,
        "pool_size": 0.0,
        "routes": routes,
    }
    scalar = {
        "db_pool_connections_in_use": "pool_in_use",
        "db_pool_connections_waiting": "pool_waiting",
        "db_pool_size": "pool_size",
    }
    per_route = {
        spec.route_cpu_metric: "cpu_seconds",
        "http_request_db_seconds_total": "db_seconds",
        "http_request_duration_seconds_sum": "duration_seconds",
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == spec.cpu_metric:
                if labels.get("mode") not in IDLE_MODES:
                    record["cpu_seconds"] += value
            elif name in scalar:
                record[scalar[name]] += value
            elif name == spec.requests_metric:
                _count_request(routes, spec, labels, value)
            elif name in per_route:
                route, method = labels.get(spec.route_label, ""), labels.get(spec.method_label, "")
                _route_entry(routes, method, route)[per_route[name]] += value
    return record


def _count_request(
    routes: dict[str, dict[str, float]],
    spec: TargetMetrics,
    labels: Mapping[str, str],
    value: float,
) -> None:
    route, method = labels.get(spec.route_label, ""), labels.get(spec.method_label, "")
    entry = _route_entry(routes, method.upper(), route)
    entry["requests"] += value
    status = labels.get(spec.status_label, "")
    if status.startswith("5"):
        entry["errors"] += value
    elif status.startswith("4"):
        entry["client_errors"] += value


def counter_labels(text: str, spec: TargetMetrics) -> set[str] | None:
    """The label names on the request counter's samples; None when the exposition has no
    sample of the counter at all."""
    seen: set[str] | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == spec.requests_metric:
                seen = (seen or set()) | set(sample.labels)
    return seen


def metrics_url(host: str, spec: TargetMetrics = BUNDLED_METRICS) -> str:
    """The metrics' URL: ``spec.url`` if absolute, else a path on ``host``."""
    if spec.url.startswith(("http://", "https://")):
        return spec.url
    return f"{host.rstrip('/')}{spec.url}"


def fetch_metrics(
    host: str,
    t_s: float,
    timeout_s: float = 5.0,
    headers: Mapping[str, str] | None = None,
    spec: TargetMetrics = BUNDLED_METRICS,
) -> Scrape:
    """GET the metrics (``{host}/metrics`` by default) and parse them. Raises
    ``httpx.HTTPError`` when it cannot.

    ``headers`` carries ``Authorization: Bearer <ADMIN_TOKEN>`` for a service that has one.
    """
    response = httpx.get(metrics_url(host, spec), timeout=timeout_s, headers=headers)
    response.raise_for_status()
    return parse_metrics(response.text, t_s, spec)


def workload_requests(scrape: Scrape, own: frozenset[str] = frozenset()) -> dict[str, float]:
    """Requests per ``"METHOD /route"`` in a scrape, without the harness's own routes (and
    ``own``: a target's readiness, health and metrics paths)."""
    skip = HARNESS_ROUTES | own
    return {
        endpoint: entry["requests"]
        for endpoint, entry in scrape["routes"].items()
        if endpoint.partition(" ")[2] not in skip
    }


def delta_requests(
    before: Scrape, after: Scrape, own: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Requests per endpoint counted by the service between two scrapes (``own``: paths of
    the harness's own requests to leave out, beside :data:`HARNESS_ROUTES`)."""
    start = workload_requests(before, own)
    end = workload_requests(after, own)
    deltas = {key: round(value - start.get(key, 0.0)) for key, value in end.items()}
    return {key: value for key, value in deltas.items() if value != 0}


@dataclass
class Scraper:
    """Scrapes ``/metrics`` every ``interval_s`` seconds on a background thread.

    ``clock`` gives seconds since the run started, so scrapes line up with the load
    generator's time series. Failed scrapes are counted, not raised: a service that died
    shows up as a gap and a failure count, and the run decides what that means.
    """

    host: str
    clock: Callable[[], float]
    interval_s: float = 2.0
    headers: Mapping[str, str] = field(default_factory=dict)
    spec: TargetMetrics = BUNDLED_METRICS
    fetch: Callable[[float, float], Scrape] | None = None
    """Reads a scrape at ``(t_s, timeout_s)`` instead of ``GET {host}/metrics`` (the lab sums
    its instances')."""
    scrapes: list[Scrape] = field(default_factory=list)
    failures: int = 0
    last_error: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scrape_now(self) -> Scrape | None:
        """One scrape, recorded and returned (None when it failed)."""
        timeout_s = max(self.interval_s, 2.0)
        try:
            if self.fetch is not None:
                record = self.fetch(self.clock(), timeout_s)
            else:
                record = fetch_metrics(
                    self.host,
                    self.clock(),
                    timeout_s=timeout_s,
                    headers=self.headers,
                    spec=self.spec,
                )
        except (httpx.HTTPError, ValueError) as exc:
            with self._lock:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        with self._lock:
            self.scrapes.append(record)
        return record

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="metrics-scraper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scrape_now()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    def snapshot(self) -> list[Scrape]:
        with self._lock:
            return list(self.scrapes)

    def latest(self) -> Scrape | None:
        with self._lock:
            return self.scrapes[-1] if self.scrapes else None


def cpu_utilization(before: Scrape, after: Scrape, cores: float) -> float | None:
    """Service CPU between two scrapes as a fraction of ``cores`` (None without elapsed time)."""
    elapsed = float(after["t_s"]) - float(before["t_s"])
    if elapsed <= 0 or cores <= 0:
        return None
    return max(0.0, float(after["cpu_seconds"] - before["cpu_seconds"]) / (elapsed * cores))


def wall_clock() -> Callable[[], float]:
    """A clock of seconds since now (monotonic), for ``Scraper.clock`` and the probe."""
    start = time.monotonic()
    return lambda: time.monotonic() - start
