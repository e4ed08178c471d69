"""Operational laws: the formulas, their argument checks, and the asymptotic bounds."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.laws import (
    asymptotic_bounds,
    forced_flow,
    interactive_response_time,
    littles_law,
    saturation_population,
    service_demand,
    utilization,
)
from models.mva import mva

LAZOWSKA_DEMANDS = [0.605, 2.1, 1.35]


def test_utilization_law() -> None:
    assert utilization(40.0, 0.02) == pytest.approx(0.8)
    assert utilization(40.0, 0.2, servers=10) == pytest.approx(0.8)


def test_service_demand_law_inverts_utilization_law() -> None:
    assert service_demand(utilization(25.0, 0.03), 25.0) == pytest.approx(0.03)


def test_littles_law() -> None:
    assert littles_law(200.0, 0.05) == pytest.approx(10.0)


def test_interactive_response_time_law() -> None:
    # N = X·(R + Z): 100 users at 9 req/s with 10 s think time wait 1.111 s per request.
    assert interactive_response_time(100, 9.0, 10.0) == pytest.approx(100 / 9 - 10)


def test_interactive_response_time_law_reports_inconsistent_inputs_as_negative() -> None:
    assert interactive_response_time(10, 2.0, 6.0) == pytest.approx(-1.0)


def test_forced_flow_law() -> None:
    assert forced_flow(50.0, 3.0) == pytest.approx(150.0)


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: utilization(-1.0, 0.1), "-1.0"),
        (lambda: utilization(1.0, math.nan), "nan"),
        (lambda: utilization(1.0, 0.1, servers=0), "0"),
        (lambda: service_demand(0.5, 0.0), "0.0"),
        (lambda: littles_law(math.inf, 1.0), "inf"),
        (lambda: interactive_response_time(10, 1.0, -2.0), "-2.0"),
        (lambda: forced_flow(1.0, -3.0), "-3.0"),
        (lambda: saturation_population([0.1, -0.2]), "-0.2"),
        (lambda: asymptotic_bounds([], 3), "empty"),
    ],
)
def test_errors_show_the_bad_value(call, shown) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        call()


def test_saturation_population() -> None:
    # QSP ch. 5: N* = (D + Z) / D_max.
    assert saturation_population(LAZOWSKA_DEMANDS, 15.0) == pytest.approx((4.055 + 15) / 2.1)


def test_asymptotic_bounds_on_the_lazowska_example() -> None:
    b = asymptotic_bounds(LAZOWSKA_DEMANDS, population=3, think_time=15.0)
    assert b.throughput_upper == pytest.approx(3 / (4.055 + 15))
    assert b.throughput_lower == pytest.approx(3 / (3 * 4.055 + 15))
    assert b.response_time_lower == pytest.approx(4.055)
    assert b.response_time_upper == pytest.approx(3 * 4.055)
    assert b.bottleneck == 1
    exact = mva(LAZOWSKA_DEMANDS, 3, 15.0)
    assert b.throughput_lower <= exact.throughput[-1] <= b.throughput_upper


def test_asymptotic_bounds_past_saturation_are_capped_by_the_bottleneck() -> None:
    b = asymptotic_bounds(LAZOWSKA_DEMANDS, population=100, think_time=15.0)
    assert b.throughput_upper == pytest.approx(1 / 2.1)
    assert b.response_time_lower == pytest.approx(100 * 2.1 - 15)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    demands=st.lists(st.floats(0.001, 5.0), min_size=1, max_size=5),
    think_time=st.floats(0.0, 50.0),
    population=st.integers(1, 60),
)
def test_exact_mva_lies_within_the_asymptotic_bounds(demands, think_time, population) -> None:
    exact = mva(demands, population, think_time)
    b = asymptotic_bounds(demands, population, think_time)
    x = float(exact.throughput[-1])
    r = float(exact.response_time[-1])
    assert b.throughput_lower * (1 - 1e-9) <= x <= b.throughput_upper * (1 + 1e-9)
    assert b.response_time_lower * (1 - 1e-9) <= r <= b.response_time_upper * (1 + 1e-9)
