"""The service curve: its CPU law, its latency lines, and their fit from calibration stages."""

from __future__ import annotations

import math

import pytest

from models.service_curve import LATENCY_STATISTICS, LoadPoint, ServiceCurve, fit_service_curve

LINES = {"mean_ms": (2.0e-3, 0.3e-3), "p50_ms": (1.8e-3, 0.1e-3), "p95_ms": (3.0e-3, 1.5e-3)}


def curve(busy: float = 2.0e-3, wake: float = 1.5e-3, background: float = 0.0) -> ServiceCurve:
    return ServiceCurve(busy_cpu_s=busy, wake_cpu_s=wake, background=background, latency=LINES)


def points_from(truth: ServiceCurve, loads: list[float]) -> list[LoadPoint]:
    """What a service that follows ``truth`` exactly would measure at these throughputs."""
    out = []
    for x in loads:
        u = truth.utilization(x)
        latency = {s: truth.latency_s(s, u) * 1e3 for s in LATENCY_STATISTICS}
        out.append(LoadPoint(throughput_rps=x, cpu_utilization=u, latency_ms=latency))
    return out


def test_utilization_law_with_wake_cost() -> None:
    c = curve()
    # U = X(a + k(1 - U)) holds at every throughput (the definition, solved for U).
    for x in (10.0, 100.0, 300.0):
        u = c.utilization(x)
        assert u == pytest.approx(x * (c.busy_cpu_s + c.wake_cpu_s * (1 - u)), rel=1e-12)
    # Light load pays a + k per request, the saturation point only a.
    assert c.utilization(1.0) == pytest.approx(3.5e-3, rel=0.01)
    assert c.max_throughput_rps == pytest.approx(500.0)
    assert c.utilization(c.max_throughput_rps) == pytest.approx(1.0)
    assert c.utilization(10 * c.max_throughput_rps) == 1.0
    # Without a wake cost it is the plain utilization law.
    assert curve(wake=0.0).utilization(100.0) == pytest.approx(0.2)


def test_background_takes_capacity() -> None:
    c = curve(background=0.1)
    assert c.utilization(0.0) == pytest.approx(0.1)
    assert c.max_throughput_rps == pytest.approx(0.9 / 2.0e-3)


def test_latency_lines_stretch_with_utilization() -> None:
    c = curve()
    # Floor + the wake-up (paid by the requests that find the core idle) + stretched work.
    assert c.latency_s("mean_ms", 0.0) == pytest.approx(2.0e-3 + 1.5e-3 + 0.3e-3)
    assert c.latency_s("mean_ms", 0.75) == pytest.approx(2.0e-3 + 0.25 * 1.5e-3 + 4 * 0.3e-3)
    # From light to moderate load the wake-up saved outweighs the stretch: faster responses.
    assert c.latency_s("mean_ms", 0.5) < c.latency_s("mean_ms", 0.1)
    assert math.isinf(c.latency_s("p95_ms", 1.0))
    flat = ServiceCurve(busy_cpu_s=1e-3, wake_cpu_s=0.0, background=0.0, latency={
        s: (1e-3, 0.0) for s in LATENCY_STATISTICS
    })  # fmt: skip
    assert flat.latency_s("p95_ms", 1.0) == 1e-3  # nothing queues, nothing wakes: no blow-up


def test_scaling_changes_work_not_floor() -> None:
    c = curve().scaled(1.5)
    assert c.busy_cpu_s == pytest.approx(3.0e-3)
    assert c.wake_cpu_s == pytest.approx(2.25e-3)
    assert c.latency["p95_ms"] == pytest.approx((3.0e-3, 2.25e-3))
    with pytest.raises(ValueError, match="factor"):
        curve().scaled(0.0)


def test_fit_recovers_the_parameters_of_a_curve_it_measured() -> None:
    truth = curve()
    fitted = fit_service_curve(points_from(truth, [30.0, 120.0, 250.0]), reference_demand_s=3e-3)
    assert fitted.busy_cpu_s == pytest.approx(truth.busy_cpu_s, rel=1e-6)
    assert fitted.wake_cpu_s == pytest.approx(truth.wake_cpu_s, rel=1e-6)
    for statistic in LATENCY_STATISTICS:
        assert fitted.latency[statistic] == pytest.approx(LINES[statistic], rel=1e-6)
    assert fitted.reference_demand_s == 3e-3
    assert len(fitted.to_json()["points"]) == 3


def test_fit_extrapolates_past_the_calibration_loads() -> None:
    truth = curve()
    fitted = fit_service_curve(points_from(truth, [30.0, 150.0]))
    x = 0.9 * truth.max_throughput_rps  # far above the calibration's top load
    assert fitted.utilization(x) == pytest.approx(truth.utilization(x), rel=1e-6)
    u = truth.utilization(x)
    assert fitted.latency_s("p95_ms", u) == pytest.approx(truth.latency_s("p95_ms", u), rel=1e-6)


def test_an_exact_fit_has_no_cpu_residual_and_is_not_bounded() -> None:
    fitted = fit_service_curve(points_from(curve(), [30.0, 120.0, 250.0]), min_busy_cpu_s=1e-3)
    assert fitted.cpu_fit_rms == pytest.approx(0.0, abs=1e-9)
    assert not fitted.busy_cpu_bounded
    assert fitted.busy_cpu_s == pytest.approx(2.0e-3, rel=1e-6)  # the bound did not bind
    assert fitted.to_json()["busy_cpu_bounded"] is False


def test_the_routes_own_cpu_bounds_the_busy_cost() -> None:
    # Stages disturbed by other load: CPU per request falls steeply with load, so the free
    # fit calls nearly all of it wake-up cost and puts saturation far too high.
    disturbed = points_from(curve(busy=0.6e-3, wake=4.0e-3), [30.0, 150.0, 300.0])
    free = fit_service_curve(disturbed)
    assert free.busy_cpu_s == pytest.approx(0.6e-3) and not free.busy_cpu_bounded
    bounded = fit_service_curve(disturbed, min_busy_cpu_s=1.0e-3)
    assert bounded.busy_cpu_bounded
    assert bounded.busy_cpu_s == pytest.approx(1.0e-3)
    assert bounded.max_throughput_rps == pytest.approx(1000.0)
    assert bounded.cpu_fit_rms > free.cpu_fit_rms  # the bound costs fit, which it reports
    with pytest.raises(ValueError, match="min_busy_cpu_s"):
        fit_service_curve(disturbed, min_busy_cpu_s=-1.0)


def test_fit_falls_back_to_the_utilization_law_without_a_busy_cost() -> None:
    # CPU per request rising with load would need a negative wake cost: NNLS gives a = 0 or
    # k = 0; either way the fitted curve must still saturate somewhere finite.
    points = [
        LoadPoint(50.0, 0.10, {s: 2.0 for s in LATENCY_STATISTICS}),
        LoadPoint(100.0, 0.30, {s: 3.0 for s in LATENCY_STATISTICS}),
    ]
    fitted = fit_service_curve(points)
    assert math.isfinite(fitted.max_throughput_rps)
    assert fitted.busy_cpu_s > 0


def test_fit_needs_two_different_loads() -> None:
    one = points_from(curve(), [100.0])
    with pytest.raises(ValueError, match="two or more loads"):
        fit_service_curve(one)
    with pytest.raises(ValueError, match="too close"):
        fit_service_curve(one + one)
    broken = LoadPoint(50.0, 0.1, {"mean_ms": 2.0})  # percentiles missing: not usable
    with pytest.raises(ValueError, match="usable"):
        fit_service_curve([broken, *one])


def test_curve_checks_its_parameters() -> None:
    with pytest.raises(ValueError, match="busy_cpu_s"):
        curve(busy=0.0)
    with pytest.raises(ValueError, match="background"):
        curve(background=1.0)
    with pytest.raises(ValueError, match="missing"):
        ServiceCurve(busy_cpu_s=1e-3, wake_cpu_s=0.0, background=0.0, latency={})
