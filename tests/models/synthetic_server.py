"""A data factory: ``server.json`` as a service with known demands would have exposed it.

Each window draws per-endpoint request counts around rates that change from window to
window (so least squares can tell endpoints apart), CPU and database seconds as sums of
exponential service times (Gamma(count, demand)), and process CPU as the routes' CPU plus a
per-request overhead and a background load. Counters are cumulative, as scraped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Demands = dict[str, tuple[float, float]]
"""Endpoint -> (cpu_ms, db_ms)."""


def synthetic_server_json(
    demands: Demands,
    *,
    windows: int = 120,
    window_s: float = 10.0,
    overhead_ms: float = 0.4,
    background_cores: float = 0.02,
    noise: bool = True,
    seed: int = 20261128,
) -> dict[str, Any]:
    """The ``server.json`` payload (``{"scrapes": [...]}``) for ``demands``."""
    rng = np.random.default_rng(seed)
    names = list(demands)
    totals = {name: {"requests": 0, "cpu_seconds": 0.0, "db_seconds": 0.0} for name in names}
    process = 0.0
    scrapes: list[dict[str, Any]] = [_scrape(0.0, process, totals)]
    for w in range(1, windows + 1):
        rates = rng.uniform(2.0, 40.0, size=len(names))
        for name, rate in zip(names, rates, strict=True):
            cpu_s, db_s = (d / 1e3 for d in demands[name])
            count = int(rng.poisson(rate * window_s)) if noise else round(rate * window_s)
            cpu = _busy(rng, count, cpu_s, noise)
            totals[name]["requests"] += count
            totals[name]["cpu_seconds"] += cpu
            totals[name]["db_seconds"] += _busy(rng, count, db_s, noise)
            process += cpu + count * overhead_ms / 1e3
        process += background_cores * window_s
        scrapes.append(_scrape(w * window_s, process, totals))
    return {"scrapes": scrapes}


def _busy(rng: np.random.Generator, count: int, mean_s: float, noise: bool) -> float:
    if count == 0 or mean_s == 0:
        return 0.0
    return float(rng.gamma(count, mean_s)) if noise else count * mean_s


def _scrape(t_s: float, process: float, totals: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "t_s": t_s,
        "cpu_seconds": process,
        "pool_in_use": 0,
        "pool_waiting": 0,
        "pool_size": 5,
        "routes": {
            name: {**counters, "errors": 0, "duration_seconds": counters["cpu_seconds"]}
            for name, counters in totals.items()
        },
    }
