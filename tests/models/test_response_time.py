"""The phase-type response time through stations in series, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.erlang import sojourn_percentile
from models.response_time import ResponseTime, StationDelay


def test_one_mmc_station_is_the_erlang_sojourn() -> None:
    # M/M/3, λ = 2, μ = 1 (published: p50 1.0874, p95 4.0207, p99 5.8912). Here θ = μ, the
    # equal-rate case, which takes the matrix-exponential path.
    rt = ResponseTime([StationDelay.mmc(2.0, 1.0, 3)])
    assert rt.mean_s == pytest.approx(1.4444, abs=1e-4)
    for q, published in ((0.5, 1.0874), (0.95, 4.0207), (0.99, 5.8912)):
        assert rt.quantile(q) == pytest.approx(published, abs=1e-4)
    # A distinct-rate case takes the spectral path; compare with the Erlang module directly.
    rt = ResponseTime([StationDelay.mmc(10.0, 0.05, 4)])
    assert rt.quantile(0.95) == pytest.approx(sojourn_percentile(0.95, 10.0, 20.0, 4), rel=1e-9)


def test_two_equal_exponentials_are_erlang_2() -> None:
    rt = ResponseTime([StationDelay(1.0), StationDelay(1.0)])
    for t in (0.1, 1.0, 3.0, 10.0):
        assert rt.survival(t) == pytest.approx(math.exp(-t) * (1 + t), rel=1e-9)


def test_distinct_exponentials_are_hypoexponential() -> None:
    a, b = 1 / 0.004, 1 / 0.010
    rt = ResponseTime([StationDelay(0.004), StationDelay(0.010)])
    for t in (0.001, 0.01, 0.05):
        expected = (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a)
        assert rt.survival(t) == pytest.approx(expected, rel=1e-9)


def test_two_queues_in_series_agree_with_monte_carlo() -> None:
    stations = [StationDelay.mmc(300.0, 0.005, 2), StationDelay.mmc(300.0, 0.003, 1)]
    rng = np.random.default_rng(7)
    n = 400_000
    total = np.zeros(n)
    for s in stations:
        waits = rng.random(n) < s.wait_probability
        total += np.where(waits, rng.exponential(s.conditional_wait_s, n), 0.0)
        total += rng.exponential(s.service_s, n)
    rt = ResponseTime(stations)
    assert rt.mean_s == pytest.approx(total.mean(), rel=0.01)
    for q in (0.5, 0.95, 0.99):
        assert rt.quantile(q) == pytest.approx(float(np.quantile(total, q)), rel=0.02)


def test_matched_station_keeps_the_mean_and_skips_empty_stations() -> None:
    station = StationDelay.matched(0.010, mean_wait_s=0.030, wait_probability=0.6)
    assert station.mean_s == pytest.approx(0.040)
    assert station.conditional_wait_s == pytest.approx(0.050)
    rt = ResponseTime([StationDelay(0.0), station, StationDelay(0.0)])
    assert rt.mean_s == pytest.approx(0.040)
    assert rt.cdf(10.0) == pytest.approx(1.0)
    assert rt.quantile(0.0) == 0.0


def test_bad_stations_name_the_value() -> None:
    with pytest.raises(ValueError, match="wait_probability must be in"):
        StationDelay(0.01, wait_probability=1.5)
    with pytest.raises(ValueError, match="unstable station: offered load 3"):
        StationDelay.mmc(300.0, 0.01, 3)
    with pytest.raises(ValueError, match="quantile must be in"):
        ResponseTime([StationDelay(0.01)]).quantile(1.0)
