"""The simulation against closed forms, with fixed seeds (after Ciw's
``compare_theoretical_to_observed``): M/M/c (Erlang C), the database pool's acquire
timeouts (the Erlang C wait tail), and a closed network (exact MVA)."""

from __future__ import annotations

import math

import pytest

from models.erlang import mmc, sojourn_percentile, wait_cdf
from models.mva import mva
from models.simulation import SimulationOptions, run_once
from tests.models.sim_profiles import queue_profile


@pytest.mark.parametrize(("servers", "rho", "seed"), [(4, 0.8, 11), (16, 0.85, 12)])
def test_open_mmc_matches_erlang_c(servers: int, rho: float, seed: int) -> None:
    demand_ms = 10.0
    mu = 1000.0 / demand_ms
    lam = rho * servers * mu
    profile = queue_profile(workers=servers, demand_ms=demand_ms)
    result = run_once(
        profile,
        SimulationOptions(hours=20 / 60, seed=seed, users=lam, autoscale=False),
    )
    theory = mmc(lam, mu, servers)
    p95 = sojourn_percentile(0.95, lam, mu, servers)
    observed_mean = sum(m.mean_ms * m.requests for m in result.minutes) / result.totals.requests
    assert observed_mean / 1000.0 == pytest.approx(theory.mean_sojourn, rel=0.02)
    assert result.totals.p95_ms / 1000.0 == pytest.approx(p95, rel=0.05)
    assert result.totals.requests / (20 * 60) == pytest.approx(lam, rel=0.01)
    assert result.totals.max_cpu == pytest.approx(rho, abs=0.03)


def test_pool_acquire_timeouts_match_mm1_with_deterministic_patience() -> None:
    # One connection at 80%, a 30 ms acquire timeout, plenty of workers. A request whose
    # wait would exceed the timeout leaves without service: M/M/1+D. Its workload density
    # (Gavish & Schweitzer 1977) gives the share that times out in closed form:
    #     P(timeout) = (1 - ρ)·ρ·e^(-(μ-λ)τ) / (1 - ρ²·e^(-(μ-λ)τ)).
    # The breaker is set never to open (it would fail requests fast instead).
    db_ms, timeout = 10.0, 0.03
    mu = 1000.0 / db_ms
    lam = 0.8 * mu
    rho = lam / mu
    tail = math.exp(-(mu - lam) * timeout)
    expected = (1 - rho) * rho * tail / (1 - rho**2 * tail)
    profile = queue_profile(
        workers=50, demand_ms=db_ms, db_ms=db_ms, pool=1, acquire_timeout_s=timeout,
        breaker_failures=10**9,
    )  # fmt: skip
    result = run_once(profile, SimulationOptions(hours=20 / 60, seed=5, users=lam, autoscale=False))
    assert result.totals.error_rate == pytest.approx(expected, rel=0.05)
    # Without abandonment M/M/1 would time out far more often: the model must not be that.
    assert result.totals.error_rate < 0.5 * (1.0 - wait_cdf(timeout, lam, mu, 1))


def test_closed_network_throughput_matches_exact_mva() -> None:
    users, think_s, demand_ms = 30, 0.5, 20.0
    profile = queue_profile(workers=1, demand_ms=demand_ms, think_s=think_s)
    minutes = 20
    result = run_once(
        profile,
        SimulationOptions(hours=minutes / 60, seed=3, users=users, mode="closed", autoscale=False),
    )
    exact = mva([demand_ms / 1000.0], population=users, think_time=think_s)
    throughput = result.totals.requests / (minutes * 60)
    assert throughput == pytest.approx(float(exact.throughput[-1]), rel=0.03)
    observed_mean = sum(m.mean_ms * m.requests for m in result.minutes) / result.totals.requests
    assert observed_mean / 1000.0 == pytest.approx(float(exact.response_time[-1]), rel=0.05)
    assert not math.isnan(result.totals.p95_ms)
