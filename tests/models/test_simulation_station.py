"""A single station simulated on its own (models.simulation.station) against Erlang C, with
fixed seeds: the public way to simulate an M/M/c or M/M/1 queue."""

from __future__ import annotations

import pytest

from models.erlang import mmc, sojourn_percentile
from models.errors import ParameterError
from models.simulation.station import simulate_station, station_profile


@pytest.mark.parametrize(
    ("arrival_rate", "servers", "seed"), [(320.0, 4, 11), (70.0, 1, 3), (1360.0, 16, 12)]
)
def test_a_station_matches_erlang_c(arrival_rate: float, servers: int, seed: int) -> None:
    service_rate = 100.0  # 10 ms: about a hundred thousand requests in 20 simulated minutes
    run = simulate_station(arrival_rate, service_rate, servers, minutes=20, seed=seed)
    theory = mmc(arrival_rate, service_rate, servers)
    p95 = sojourn_percentile(0.95, arrival_rate, service_rate, servers)
    assert run.mean_sojourn_s == pytest.approx(theory.mean_sojourn, rel=0.02)
    assert run.p95_s == pytest.approx(p95, rel=0.03)
    assert run.utilization == pytest.approx(theory.utilization, abs=0.01)
    assert run.throughput == pytest.approx(arrival_rate, rel=0.01)
    assert run.servers == servers and run.result.totals.errors == 0


def test_the_same_seed_gives_the_same_run() -> None:
    first = simulate_station(50.0, 100.0, minutes=2, seed=7)
    again = simulate_station(50.0, 100.0, minutes=2, seed=7)
    other = simulate_station(50.0, 100.0, minutes=2, seed=8)
    assert first.mean_sojourn_s == again.mean_sojourn_s
    assert first.mean_sojourn_s != other.mean_sojourn_s


def test_deterministic_service_waits_less_than_exponential() -> None:
    exponential = simulate_station(80.0, 100.0, minutes=5, seed=2)
    deterministic = simulate_station(80.0, 100.0, minutes=5, seed=2, scv=0.0)
    # M/D/1 waits half as long as M/M/1 (Pollaczek-Khinchine).
    wait_ratio = (deterministic.mean_sojourn_s - 0.01) / (exponential.mean_sojourn_s - 0.01)
    assert wait_ratio == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: simulate_station(0.0, 1.0), "arrival_rate must be a finite number > 0, got 0.0"),
        (lambda: simulate_station(1.0, -2.0), "service_rate must be a finite number > 0, got -2.0"),
        (lambda: simulate_station(1.0, 2.0, 0), "servers must be an integer >= 1, got 0"),
        (lambda: simulate_station(1.0, 2.0, minutes=0), "minutes must be a finite number > 0"),
    ],
)
def test_bad_arguments_are_named(call, shown) -> None:
    with pytest.raises(ParameterError, match=shown):
        call()


def test_the_station_profile_is_one_fixed_instance_of_c_workers() -> None:
    profile = station_profile(6, 0.02)
    scaling = profile.infrastructure.autoscaling
    assert (scaling.min_instances, scaling.max_instances) == (1, 1)
    assert profile.infrastructure.workers_per_instance == 6
    assert {d.cpu_ms for d in profile.service_demands.values()} == {20.0}
    assert {d.db_ms for d in profile.service_demands.values()} == {0.0}
    assert profile.personas.get("operator").share == 1.0
    grown = station_profile(6, 0.02, overrides={"infrastructure": {"database": {"pool_max": 7}}})
    assert grown.infrastructure.database.pool_max == 7
    assert grown.infrastructure.workers_per_instance == 6
