"""Small synthetic profiles for the simulation tests: one persona, one demand for every
endpoint, so the simulated system is a textbook queue whose answer is known. They are
:func:`models.simulation.station.station_profile` with the knobs these tests turn."""

from __future__ import annotations

from typing import Any

from models.catalogue import endpoints
from models.profile import Profile
from models.simulation.station import station_profile


def queue_profile(
    *,
    workers: int,
    demand_ms: float,
    db_ms: float = 0.0,
    think_s: float = 1.0,
    pool: int = 100,
    acquire_timeout_s: float = 5.0,
    instances: tuple[int, int] = (1, 1),
    autoscaling: dict[str, Any] | None = None,
    hourly: list[float] | None = None,
    users: int = 400_000,
    breaker_failures: int = 5,
    request_timeout_s: float = 30.0,
) -> Profile:
    """Operators only (one call per screen), every endpoint ``demand_ms`` in total.

    With exponential service times the worker tier is exactly M/M/c (c = instances x
    workers) for open arrivals, and a single-class closed network for closed users. A user
    sends ``1 / think_s`` requests per second, so ``users = λ·think_s`` in open mode.
    """
    scaling = {"min_instances": instances[0], "max_instances": instances[1]}
    scaling.update(autoscaling or {})
    overrides: dict[str, Any] = {
        "population": {"users": users, "dau_ratio": 0.5, "concurrency_ratio": 0.1},
        "infrastructure": {
            "request_timeout_s": request_timeout_s,
            "autoscaling": scaling,
            "database": {"pool_max": pool, "acquire_timeout_s": acquire_timeout_s},
            "breakers": {"database": {"failures": breaker_failures}},
        },
    }
    if db_ms:
        overrides["service_demands"] = {
            e: {"cpu_ms": demand_ms - db_ms, "db_ms": db_ms} for e in endpoints()
        }
    if hourly is not None:
        overrides["day_one"] = {"hourly_fraction_of_peak": hourly}
    return station_profile(workers, demand_ms / 1000.0, think_time_s=think_s, overrides=overrides)
