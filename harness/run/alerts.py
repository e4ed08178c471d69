"""The profile's alert rules, replayed over a run's time series: what would have paged, when.

A rule (``error_rate > 0.05``) *fires* once its condition has held continuously for the
profile's ``alerts.for_s`` seconds, like a Prometheus rule with ``for:``; it resolves when the
condition stops holding, and may fire again later (each firing is one entry). The metrics come
from two sides of the run, joined on time::

    error_rate, p95_ms   the load generator's time series (stats/timeseries.json)
    cpu                  service CPU seconds / wall seconds / cores, between two scrapes
    db_connections       pool connections in use, as scraped
    cache_hit_ratio      hits / (hits + misses) of the service's cache between two scrapes
                         (a run on the lab whose service counts ``cache_requests_total``;
                         an interval without a cacheable read has no point)

``memory`` and ``disk`` are not measured by the bundled service, nor the cache's hits off the
lab; rules on them are listed as not evaluated rather than silently passing.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from models.profile import AlertRule, Alerts
from models.run_records import FiredAlert


def _fire(
    rule: AlertRule, severity: str, series: Sequence[tuple[float, float]], for_s: float
) -> list[FiredAlert]:
    """Firings of one rule over ``(t_s, value)`` points sorted by time."""
    fired: list[FiredAlert] = []
    pending_since: float | None = None
    active: FiredAlert | None = None
    for t_s, value in series:
        if rule.breached(value):
            if pending_since is None:
                pending_since = t_s
            if active is None and t_s - pending_since >= for_s:
                active = FiredAlert(severity, rule.metric, rule.op, rule.threshold, t_s, value)
                fired.append(active)
        else:
            if active is not None:
                fired[-1] = replace(active, resolved_at_s=t_s)
            pending_since, active = None, None
    return fired


def metric_series(
    timeseries: Sequence[Mapping[str, Any]], scrapes: Sequence[Mapping[str, Any]], cores: float
) -> dict[str, list[tuple[float, float]]]:
    """The alertable metrics as ``metric -> [(t_s, value)]``, from both sides of the run."""
    series: dict[str, list[tuple[float, float]]] = {}
    for record in timeseries:
        for metric in ("error_rate", "p95_ms"):
            value = record.get(metric)
            if value is not None:
                series.setdefault(metric, []).append((float(record["t_s"]), float(value)))
    for before, after in itertools.pairwise(scrapes):
        elapsed = after["t_s"] - before["t_s"]
        if elapsed > 0 and cores > 0:
            cpu = (after["cpu_seconds"] - before["cpu_seconds"]) / (elapsed * cores)
            series.setdefault("cpu", []).append((float(after["t_s"]), max(0.0, cpu)))
    for scrape in scrapes:
        series.setdefault("db_connections", []).append(
            (float(scrape["t_s"]), float(scrape["pool_in_use"]))
        )
    cache = _cache_hit_ratio(scrapes)
    if cache:
        series["cache_hit_ratio"] = cache
    return series


def _cache_hit_ratio(scrapes: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """The cache's hit ratio between consecutive scrapes that both counted it."""
    points = []
    for before, after in itertools.pairwise(scrapes):
        start = (before.get("lab") or {}).get("cache")
        end = (after.get("lab") or {}).get("cache")
        if start is None or end is None:
            continue
        hits = end.get("hit", 0.0) - start.get("hit", 0.0)
        lookups = hits + end.get("miss", 0.0) - start.get("miss", 0.0)
        if lookups > 0:
            points.append((float(after["t_s"]), hits / lookups))
    return points


def evaluate(
    alerts: Alerts, series: Mapping[str, Sequence[tuple[float, float]]]
) -> tuple[list[FiredAlert], list[str]]:
    """(what fired, sorted by time; the rules that could not be evaluated, as text)."""
    fired: list[FiredAlert] = []
    not_evaluated: list[str] = []
    for severity, rules in (("critical", alerts.critical), ("warning", alerts.warning)):
        for rule in rules:
            points = series.get(rule.metric)
            if not points:
                not_evaluated.append(f"{severity}: {rule.metric} {rule.op} {rule.threshold:g}")
                continue
            fired.extend(_fire(rule, severity, sorted(points), alerts.for_s))
    fired.sort(key=lambda a: (a.fired_at_s, a.severity != "critical"))
    return fired, not_evaluated
