"""Erlang B, Erlang C and M/M/c: published vectors, closed forms and the inverse functions."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from models.erlang import (
    erlang_b,
    erlang_c,
    mmc,
    servers_for_target,
    sojourn_cdf,
    sojourn_percentile,
    wait_cdf,
    wait_percentile,
)

# Erlang C example: 10 erlangs offered to 14 servers, mean service 180 s.
CALL_CENTRE: dict[str, Any] = {"arrival_rate": 10 / 180, "service_rate": 1 / 180, "servers": 14}
# M/M/3 with λ = 2, μ = 1: cμ − λ = μ, the special case of the sojourn-time mixture.
MM3: dict[str, Any] = {"arrival_rate": 2.0, "service_rate": 1.0, "servers": 3}


def erlang_b_exact(servers: int, load: Fraction) -> Fraction:
    """(a^c/c!) / Σ_k a^k/k!, in exact rationals."""
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


# --- published vectors ---------------------------------------------------------------------


def test_erlang_c_published_vector() -> None:
    assert round(erlang_c(14, 10.0), 10) == 0.1741319336
    assert round(mmc(**CALL_CENTRE).wait_probability, 10) == 0.1741319336
    assert round(wait_cdf(20.0, **CALL_CENTRE), 10) == 0.8883500192
    assert round(mmc(**CALL_CENTRE).mean_wait, 5) == 7.83594


def test_mm3_published_vector() -> None:
    q = mmc(**MM3)
    assert q.wait_probability == pytest.approx(4 / 9, rel=1e-12)
    assert round(q.mean_sojourn, 4) == 1.4444
    assert round(sojourn_percentile(0.50, **MM3), 4) == 1.0874
    assert round(sojourn_percentile(0.95, **MM3), 4) == 4.0207
    assert round(sojourn_percentile(0.99, **MM3), 4) == 5.8912


def test_mm3_sojourn_special_case_closed_form() -> None:
    # θ = μ = 1, C = 4/9: P(T > t) = e^(−t)·(1 + 4t/9).
    for t in (0.1, 1.0, 3.0, 10.0):
        assert 1 - sojourn_cdf(t, **MM3) == pytest.approx(math.exp(-t) * (1 + 4 * t / 9))


# --- Erlang B --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "load", "table"),
    [(1, 1.0, 0.5), (5, 2.0, 0.0367), (10, 5.0, 0.0184), (10, 10.0, 0.2146), (20, 15.0, 0.0456)],
)
def test_erlang_b_table_values(servers, load, table) -> None:
    assert round(erlang_b(servers, load), 4) == table
    assert erlang_b(servers, load) == pytest.approx(
        float(erlang_b_exact(servers, Fraction(load))), rel=1e-13
    )


def test_erlang_b_is_stable_for_large_pools() -> None:
    # a^c/c! overflows a float long before c = 5,000; the recursion does not.
    b = erlang_b(5_000, 4_900.0)
    assert 0.0 < b < 0.05
    assert 0.0 < erlang_c(5_000, 4_900.0) < 1.0


def test_erlang_b_with_no_load_never_blocks() -> None:
    assert erlang_b(3, 0.0) == 0.0


# --- M/M/1 closed forms ----------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_mm1_closed_forms(rho: float) -> None:
    mu = 2.0
    lam = rho * mu
    q = mmc(lam, mu, 1)
    assert q.wait_probability == pytest.approx(rho)
    assert q.mean_wait == pytest.approx(rho / (mu - lam))
    assert q.mean_sojourn == pytest.approx(1 / (mu - lam))
    assert q.mean_in_system == pytest.approx(rho / (1 - rho))
    # The M/M/1 sojourn time is exponential with rate μ − λ.
    for p in (0.5, 0.95, 0.99):
        assert sojourn_percentile(p, lam, mu, 1) == pytest.approx(
            -math.log(1 - p) / (mu - lam), rel=1e-10
        )
    assert sojourn_cdf(1.0, lam, mu, 1) == pytest.approx(1 - math.exp(-(mu - lam)))


# --- waiting and sojourn time distributions --------------------------------------------------


def test_wait_percentile_is_zero_inside_the_atom() -> None:
    # P(W = 0) = 1 − C = 0.826: the 80th percentile of the wait is 0.
    assert wait_percentile(0.8, **CALL_CENTRE) == 0.0
    assert wait_percentile(0.9, **CALL_CENTRE) > 0.0


def test_sojourn_cdf_is_continuous_through_the_special_case() -> None:
    # θ = 3μ − λ crosses μ at λ = 2: the general formula must meet the special one.
    at = sojourn_cdf(2.5, 2.0, 1.0, 3)
    for eps in (1e-6, 1e-9, 1e-12):
        assert sojourn_cdf(2.5, 2.0 + eps, 1.0, 3) == pytest.approx(at, abs=1e-5)
        assert sojourn_cdf(2.5, 2.0 - eps, 1.0, 3) == pytest.approx(at, abs=1e-5)


@pytest.mark.parametrize("lam", [0.5, 1.5, 2.0, 2.5, 2.9])
def test_sojourn_distribution_has_the_mean_sojourn(lam: float) -> None:
    survival_integral, _ = quad(lambda t: 1 - sojourn_cdf(t, lam, 1.0, 3), 0, math.inf)
    assert survival_integral == pytest.approx(mmc(lam, 1.0, 3).mean_sojourn, rel=1e-8)


def test_sojourn_cdf_is_zero_before_zero() -> None:
    assert sojourn_cdf(-1.0, **MM3) == 0.0
    assert sojourn_cdf(0.0, **MM3) == 0.0
    assert sojourn_percentile(0.0, **MM3) == 0.0


@settings(max_examples=80, derandomize=True, deadline=None)
@given(
    servers=st.integers(1, 300),
    rho=st.floats(0.01, 0.99),
    q=st.floats(0.01, 0.999),
)
def test_percentiles_invert_the_cdfs(servers, rho, q) -> None:
    mu = 0.7
    lam = rho * servers * mu
    t = sojourn_percentile(q, lam, mu, servers)
    assert abs(sojourn_cdf(t, lam, mu, servers) - q) < 1e-9
    w = wait_percentile(q, lam, mu, servers)
    if w > 0:
        assert wait_cdf(w, lam, mu, servers) == pytest.approx(q, abs=1e-12)
    else:
        assert wait_cdf(0.0, lam, mu, servers) >= q


# --- sizing ----------------------------------------------------------------------------------


def test_servers_for_wait_probability() -> None:
    c = servers_for_target(10 / 180, 1 / 180, wait_probability=0.2)
    assert c == 14
    assert erlang_c(c, 10.0) <= 0.2 < erlang_c(c - 1, 10.0)


def test_servers_for_wait_percentile() -> None:
    # 80 % answered within 20 s: the call-centre example needs exactly its 14 agents.
    c = servers_for_target(10 / 180, 1 / 180, wait_time=20.0, quantile=0.8)
    assert c == 14
    assert wait_cdf(20.0, 10 / 180, 1 / 180, 13) < 0.8 <= wait_cdf(20.0, **CALL_CENTRE)


def test_servers_for_sojourn_percentile() -> None:
    c = servers_for_target(200.0, 10.0, sojourn_time=0.35, quantile=0.95)
    assert c > 21  # the smallest stable pool (21 servers for 20 erlangs) is not enough
    assert sojourn_percentile(0.95, 200.0, 10.0, c) <= 0.35
    assert sojourn_percentile(0.95, 200.0, 10.0, c - 1) > 0.35


def test_servers_for_all_targets_takes_the_strictest() -> None:
    both = servers_for_target(50.0, 1.0, wait_probability=0.05, wait_time=0.01, quantile=0.99)
    assert both == max(
        servers_for_target(50.0, 1.0, wait_probability=0.05),
        servers_for_target(50.0, 1.0, wait_time=0.01, quantile=0.99),
    )


def test_servers_for_an_unreachable_sojourn_target_is_refused() -> None:
    # The 95th percentile of an Exp(1) service time alone is 2.996: no pool beats it.
    with pytest.raises(ValueError, match=r"sojourn_time 2\.9 is unreachable"):
        servers_for_target(5.0, 1.0, sojourn_time=2.9)


def test_servers_for_target_needs_a_target() -> None:
    with pytest.raises(ValueError, match="at least one"):
        servers_for_target(5.0, 1.0)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: erlang_c(10, 10.0), "offered load 10.0 erlangs >= 10 servers"),
        (lambda: mmc(3.5, 1.0, 3), "3.5 erlangs >= 3 servers"),
        (lambda: erlang_b(0, 1.0), "got 0"),
        (lambda: erlang_b(2, -1.0), "got -1.0"),
        (lambda: mmc(1.0, 0.0, 3), "service_rate must be a finite number > 0, got 0.0"),
        (lambda: mmc(-1.0, 1.0, 3), "got -1.0"),
        (lambda: sojourn_percentile(1.0, **MM3), r"\[0, 1\), got 1.0"),
        (lambda: wait_cdf(math.nan, **MM3), "nan"),
        (lambda: servers_for_target(1.0, 1.0, wait_probability=1.5), "1.5"),
    ],
)
def test_errors_show_the_bad_value(call, shown) -> None:
    with pytest.raises(ValueError, match=shown):
        call()
