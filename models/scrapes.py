"""Reading ``server.json``: the service's cumulative metrics, as scraped during a run.

The file (docs/artifacts.md) holds one record per scrape: the time since the run started,
the CPU seconds of all the service's worker processes, and per route the cumulative
``requests``, ``cpu_seconds`` and ``db_seconds``. Routes are keyed ``"GET /jobs/{job_id}"``,
or by the route template with a ``method`` field; both become the catalogue's endpoint
names. Anything malformed is a :class:`CalibrationError` naming the file, the key and the
value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import CalibrationError

__all__ = ["CalibrationError", "RouteCounters", "Scrape", "endpoint_name", "read_scrapes"]


@dataclass(frozen=True)
class RouteCounters:
    """Cumulative counters of one route at one scrape."""

    requests: float
    cpu_seconds: float
    db_seconds: float


@dataclass(frozen=True)
class Scrape:
    """One scrape of the service's metrics (cumulative since the service started)."""

    t_s: float
    cpu_seconds: float
    routes: Mapping[str, RouteCounters]


def endpoint_name(route: str, method: str | None = None) -> str:
    """The catalogue's ``"METHOD /template"`` for a route label (and its method label).

    >>> endpoint_name("/jobs/{job_id}", "get")
    'GET /jobs/{job_id}'
    >>> endpoint_name("GET /jobs/{job_id}")
    'GET /jobs/{job_id}'
    """
    route = route.strip()
    if method is None:
        verb, _, path = route.partition(" ")
        if not path:
            raise CalibrationError(f"route {route!r} has no method: expected 'METHOD /path'")
        return f"{verb.upper()} {path.strip()}"
    return f"{method.strip().upper()} {route}"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationError(f"{where} = {value!r}: expected a finite number")
    return float(value)


def read_scrapes(path: Path) -> tuple[Scrape, ...]:
    """Parse ``server.json``; every problem is a :class:`CalibrationError` naming the key."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CalibrationError(
            f"{path}: file not found (a run directory has server.json)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not valid JSON: {exc}") from None
    raw = data.get("scrapes") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise CalibrationError(f"{path}: expected an object with a 'scrapes' list")
    scrapes: list[Scrape] = []
    for i, item in enumerate(raw):
        where = f"{path}: scrapes[{i}]"
        if not isinstance(item, dict):
            raise CalibrationError(f"{where}: expected an object, got {item!r}")
        routes: dict[str, RouteCounters] = {}
        for key, counters in (item.get("routes") or {}).items():
            if not isinstance(counters, dict):
                raise CalibrationError(f"{where}.routes[{key!r}]: expected an object")
            name = endpoint_name(key, counters.get("method"))
            previous = routes.get(name, RouteCounters(0.0, 0.0, 0.0))
            routes[name] = RouteCounters(
                requests=previous.requests
                + _number(counters.get("requests"), f"{where}.routes[{key!r}].requests"),
                cpu_seconds=previous.cpu_seconds
                + _number(counters.get("cpu_seconds", 0.0), f"{where}.routes[{key!r}].cpu_seconds"),
                db_seconds=previous.db_seconds
                + _number(counters.get("db_seconds", 0.0), f"{where}.routes[{key!r}].db_seconds"),
            )
        scrapes.append(
            Scrape(
                t_s=_number(item.get("t_s"), f"{where}.t_s"),
                cpu_seconds=_number(item.get("cpu_seconds"), f"{where}.cpu_seconds"),
                routes=routes,
            )
        )
    return tuple(scrapes)
