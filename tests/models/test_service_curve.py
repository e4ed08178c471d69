"""The service curve: its CPU law, its latency lines, and their fit from calibration stages."""

from __future__ import annotations

import dataclasses
import math

import pytest

from models.errors import ParameterError
from models.service_curve import (
    LATENCY_STATISTICS,
    Backlog,
    BurstPoint,
    LoadPoint,
    ServiceCurve,
    common_reference_ms,
    fit_backlog,
    fit_service_curve,
    ps_floor,
    ps_stretch_multiple,
)

LINES = {"mean_ms": (2.0e-3, 0.3e-3), "p50_ms": (1.8e-3, 0.1e-3), "p95_ms": (3.0e-3, 1.5e-3)}


def curve(busy: float = 2.0e-3, wake: float = 1.5e-3, background: float = 0.0) -> ServiceCurve:
    return ServiceCurve(busy_cpu_s=busy, wake_cpu_s=wake, background=background, latency=LINES)


FLOORS = {"mean_ms": 2.0e-3, "p50_ms": 1.8e-3, "p95_ms": 3.0e-3}


def ps_curve(busy: float = 2.0e-3, wake: float = 1.5e-3) -> ServiceCurve:
    """A curve of the form the fit assumes: processor sharing stretches the busy cost."""
    return ServiceCurve(
        busy_cpu_s=busy,
        wake_cpu_s=wake,
        background=0.0,
        latency={s: (FLOORS[s], busy) for s in LATENCY_STATISTICS},
        path_wake=dict.fromkeys(LATENCY_STATISTICS, 0.0),
        ps_stretch=True,
    )


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
    truth = ps_curve()
    fitted = fit_service_curve(points_from(truth, [30.0, 120.0, 250.0]), reference_demand_s=3e-3)
    assert fitted.busy_cpu_s == pytest.approx(truth.busy_cpu_s, rel=1e-6)
    assert fitted.wake_cpu_s == pytest.approx(truth.wake_cpu_s, rel=1e-6)
    for statistic in LATENCY_STATISTICS:
        assert fitted.latency[statistic] == pytest.approx(truth.latency[statistic], rel=1e-6)
    assert fitted.reference_demand_s == 3e-3
    assert len(fitted.to_json()["points"]) == 3
    assert fitted.to_json()["latency"]["p95_ms"]["wake_on_path_ms"] == 0.0


def test_processor_sharing_stretches_the_busy_cost_whatever_the_light_stages_say() -> None:
    """The mean's stretch is the busy cost (M/G/1-PS), the percentiles' the M/M/1-PS
    sojourn's multiples of it at the load; only the floors are fitted, as what the stretch
    leaves."""
    light = [
        LoadPoint(30.0, 0.10, {"mean_ms": 4.0, "p50_ms": 3.5, "p95_ms": 8.0}),
        LoadPoint(120.0, 0.30, {"mean_ms": 4.2, "p50_ms": 3.6, "p95_ms": 9.0}),
    ]
    fitted = fit_service_curve(light, burst=BurstPoint(150.0, 0.30, period_s=1.0))
    a = fitted.busy_cpu_s
    floor, stretched = fitted.latency["mean_ms"]
    assert stretched == pytest.approx(a) and fitted.ps_stretch
    assert fitted.latency["p95_ms"][1] == pytest.approx(a)
    # the floor: the mean of what the stretch leaves at each stage
    left = [4.0e-3 - a / 0.9, 4.2e-3 - a / 0.7]
    assert floor == pytest.approx(sum(left) / 2)
    # at 85% CPU the mean is the floor plus a / 0.15: queueing dominates
    assert fitted.latency_s("mean_ms", 0.85) == pytest.approx(floor + a / 0.15)
    p95_floor = fitted.latency["p95_ms"][0]
    p95 = p95_floor + ps_stretch_multiple("p95_ms", 0.85) * a / 0.15
    assert fitted.latency_s("p95_ms", 0.85) == pytest.approx(p95)
    assert fitted.to_json()["ps_stretch"] is True


def test_the_ps_floor_is_what_the_stretch_leaves_never_below_zero() -> None:
    # 2 ms busy cost: at 50% the mean stretch is 4 ms, at 0% 2 ms
    assert ps_floor("mean_ms", [5.0, 3.0], [0.5, 0.0], 2.0) == pytest.approx(1.0)
    p95, loads = [20.0, 15.0], [0.5, 0.2]
    left = [
        v - ps_stretch_multiple("p95_ms", u) * 2.0 / (1 - u)
        for v, u in zip(p95, loads, strict=True)
    ]
    assert sum(left) > 0
    assert ps_floor("p95_ms", p95, loads, 2.0) == pytest.approx(sum(left) / 2)
    assert ps_floor("mean_ms", [1.0], [0.5], 2.0) == 0.0  # the stretch alone is more


def test_the_ps_sojourn_spreads_from_the_exponential_to_three_times_its_variance() -> None:
    # no load: the service time itself, exponential: p50 ln 2, p95 ln 20 times the mean
    assert ps_stretch_multiple("p95_ms", 0.0) == pytest.approx(math.log(20.0))
    assert ps_stretch_multiple("p50_ms", 0.0) == pytest.approx(math.log(2.0))
    assert ps_stretch_multiple("mean_ms", 0.9) == 1.0
    # the variance (2 + ρ)/(2 − ρ) times the exponential's: a heavier tail, a lower median
    assert ps_stretch_multiple("p95_ms", 0.85) == pytest.approx(4.14, abs=0.01)
    assert ps_stretch_multiple("p50_ms", 0.85) < math.log(2.0)
    assert ps_stretch_multiple("p95_ms", 2.0) == ps_stretch_multiple("p95_ms", 1.0)


def test_fit_extrapolates_past_the_calibration_loads() -> None:
    truth = ps_curve()
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


def test_a_burst_stage_is_the_busy_cost_and_the_light_stages_the_wake_up() -> None:
    truth = curve()  # a = 2.0 ms, k = 1.5 ms
    light = points_from(truth, [30.0, 80.0, 120.0])
    # 150 req/s in bursts once a second: each request but one a tick on a busy core.
    burst = BurstPoint(150.0, 150.0 * 2.0e-3 + 1.5e-3 / 1.0, period_s=1.0)
    fitted = fit_service_curve(light, burst=burst)
    assert fitted.busy_cpu_s == pytest.approx(2.0e-3, rel=1e-6)
    assert fitted.wake_cpu_s == pytest.approx(1.5e-3, rel=1e-6)
    assert fitted.cpu_fit_rms == pytest.approx(0.0, abs=1e-9)
    assert fitted.burst is burst and fitted.to_json()["burst"]["cpu_per_request_ms"] == 2.01
    # Light stages whose cost falls steeply put the line's busy cost at 0.6 ms and the
    # capacity near 1,700 req/s; a burst measuring 1.7 ms a request holds it near 590.
    steep_light = points_from(curve(busy=0.6e-3, wake=4.0e-3), [30.0, 150.0, 300.0])
    line = fit_service_curve(steep_light)
    held = fit_service_curve(steep_light, burst=BurstPoint(200.0, 0.34, period_s=1.0))
    assert line.max_throughput_rps == pytest.approx(1667, rel=0.01)
    assert held.busy_cpu_s == pytest.approx(1.7e-3, rel=0.05)
    assert held.max_throughput_rps == pytest.approx(588, rel=0.05)
    assert held.scaled(2.0).burst is held.burst  # another mix keeps the record


def test_a_burst_stage_checks_its_figures_and_joins_the_common_speed() -> None:
    for bad in ((0.0, 0.3, 1.0), (100.0, 1.2, 1.0), (100.0, 0.3, 0.0)):
        with pytest.raises(ParameterError, match="a burst stage needs"):
            BurstPoint(*bad)
    latency = {s: 1.0 for s in LATENCY_STATISTICS}
    a, b = LoadPoint(10.0, 0.1, latency, 1.0), LoadPoint(20.0, 0.2, latency, 2.0)
    assert common_reference_ms([a, b], burst=BurstPoint(100.0, 0.2, 1.0, 3.0)) == 1.5
    assert common_reference_ms([a, b], burst=BurstPoint(100.0, 0.2, 1.0)) is None


def bursts_of(busy: float, wake: float, extra_per_e_fold: float) -> tuple[BurstPoint, ...]:
    """A 1 s burst with 40 requests in the service and a 4 s one with 160, at 150 req/s, of
    a service whose busy cost grows by ``extra_per_e_fold`` per e-fold of the queue past 40."""
    deep_busy = busy + extra_per_e_fold * math.log(160.0 / 40.0)
    return (
        BurstPoint(150.0, 150.0 * busy + wake / 1.0, period_s=1.0, in_service=40.0),
        BurstPoint(150.0, 150.0 * deep_busy + wake / 4.0, period_s=4.0, in_service=160.0),
    )


def test_a_deep_burst_measures_what_a_request_costs_more_behind_a_backlog() -> None:
    truth = curve()  # a = 2.0 ms, k = 1.5 ms
    light = points_from(truth, [30.0, 80.0, 120.0])
    burst, deep = bursts_of(2.0e-3, 1.5e-3, 0.1e-3)
    fitted = fit_service_curve(light, burst=burst, deep_burst=deep)
    assert fitted.busy_cpu_s == pytest.approx(2.0e-3, rel=1e-6)  # the shallow burst's a
    assert fitted.backlog is not None and fitted.backlog.deep_burst is deep
    assert fitted.backlog.cpu_s == pytest.approx(0.1e-3, rel=1e-6)
    assert fitted.backlog.depth == 40.0
    # Up to the burst's depth a request costs a; past it, 0.1 ms more per e-fold.
    assert fitted.busy_cpu_at(10.0) == fitted.busy_cpu_at(40.0) == fitted.busy_cpu_s
    assert fitted.busy_cpu_at(40.0 * math.e**2) == pytest.approx(2.2e-3, rel=1e-9)
    assert fitted.with_backlog(5.0) is fitted
    assert fitted.with_backlog(400.0).busy_cpu_s == pytest.approx(fitted.busy_cpu_at(400.0))
    doubled = fitted.scaled(2.0)  # another mix: the backlog's cost scales with the work
    assert doubled.backlog is not None and doubled.backlog.cpu_s == pytest.approx(0.2e-3)
    data = fitted.to_json()["backlog"]
    assert data["cpu_ms_per_doubling"] == pytest.approx(0.1 * math.log(2.0), abs=1e-5)
    assert data["from_in_service"] == 40.0 and data["deep_burst"]["in_service"] == 160.0
    # No deep burst, or no burst to measure it against: no backlog term.
    assert fit_service_curve(light, burst=burst).backlog is None
    assert fit_service_curve(light, deep_burst=deep).backlog is None
    assert fit_service_curve(light).to_json()["backlog"] is None


def shallow_points(busy: float, wake: float, per_e_fold: float) -> list[LoadPoint]:
    """Light stages of a service whose busy cost follows the backlog's law below the burst's
    depth of 40 too: at 30, 80 and 120 req/s with 1.5, 2 and 3 requests in the service."""
    out = []
    for x, depth in ((30.0, 1.5), (80.0, 2.0), (120.0, 3.0)):
        here = busy + per_e_fold * math.log(depth / 40.0)
        u = x * (here + wake) / (1.0 + x * wake)  # U = X·(a(n) + k·(1 - U)), solved
        mean_ms = depth * u / x * 1e3  # so that X·R / U is the depth
        latency = {"mean_ms": mean_ms, "p50_ms": 0.9 * mean_ms, "p95_ms": 2.5 * mean_ms}
        out.append(LoadPoint(throughput_rps=x, cpu_utilization=u, latency_ms=latency))
    return out


def test_below_the_burst_s_depth_a_request_costs_less_by_the_same_law() -> None:
    light = shallow_points(2.0e-3, 1.5e-3, 0.1e-3)
    assert [round(p.in_service, 9) for p in light] == [1.5, 2.0, 3.0]
    burst, deep = bursts_of(2.0e-3, 1.5e-3, 0.1e-3)
    fitted = fit_service_curve(light, burst=burst, deep_burst=deep, past=False, shallow=True)
    # The law in the light stages' rows recovers every term exactly ...
    assert fitted.busy_cpu_s == pytest.approx(2.0e-3, rel=1e-6)
    assert fitted.wake_cpu_s == pytest.approx(1.5e-3, rel=1e-6)
    assert fitted.backlog is not None and fitted.backlog.cpu_s == pytest.approx(0.1e-3, rel=1e-6)
    assert fitted.backlog.shallow and not fitted.backlog.past
    # ... where a fit that reads every stage at the burst's busy cost puts the wake-up low.
    blind = fit_service_curve(light, burst=burst, deep_burst=deep)
    assert blind.wake_cpu_s < 0.9 * fitted.wake_cpu_s
    # Two requests in the service cost 0.1 ms·ln(2/40) less; past the depth nothing more (the
    # past side not taken); one request is the fewest, and no depth takes a below half of it.
    assert fitted.busy_cpu_at(2.0) == pytest.approx(2.0e-3 + 0.1e-3 * math.log(2.0 / 40.0))
    assert fitted.busy_cpu_at(0.2) == fitted.busy_cpu_at(1.0)
    assert fitted.busy_cpu_at(400.0) == fitted.busy_cpu_at(40.0) == fitted.busy_cpu_s
    steep = dataclasses.replace(fitted, backlog=dataclasses.replace(fitted.backlog, cpu_s=1e-3))
    assert steep.busy_cpu_at(1.0) == pytest.approx(0.5 * fitted.busy_cpu_s)
    both = dataclasses.replace(fitted.backlog, past=True)
    assert both.extra_cpu_s(400.0) == pytest.approx(0.1e-3 * math.log(10.0))
    data = fitted.to_json()["backlog"]
    assert data["below_depth"] is True and data["past_depth"] is False


def test_the_backlog_needs_two_known_depths_and_is_never_a_saving() -> None:
    burst, deep = bursts_of(2.0e-3, 1.5e-3, 0.1e-3)
    assert fit_backlog(dataclasses.replace(burst, in_service=None), deep, 0.0, 1.5e-3) is None
    assert fit_backlog(burst, dataclasses.replace(deep, in_service=None), 0.0, 1.5e-3) is None
    assert fit_backlog(burst, dataclasses.replace(deep, in_service=40.0), 0.0, 1.5e-3) is None
    # A deep burst that measured less per request than the shallow one: no saving assumed.
    cheaper, cheap_deep = bursts_of(2.0e-3, 1.5e-3, -0.1e-3)
    flat = fit_backlog(cheaper, cheap_deep, 0.0, 1.5e-3)
    assert flat is not None and flat.cpu_s == 0.0
    # At one machine speed: the deep burst ran 10% slower, so its 10% more CPU is no backlog.
    slow = dataclasses.replace(burst, reference_ms=1.0)
    slow_deep = BurstPoint(150.0, 1.1 * (150.0 * 2.0e-3 + 1.5e-3 / 4.0), 4.0, 1.1, 160.0)
    same = fit_backlog(slow, slow_deep, 0.0, 1.5e-3, reference_ms=1.0)
    assert same is not None and same.cpu_s == pytest.approx(0.0, abs=1e-12)
    raw = fit_backlog(slow, slow_deep, 0.0, 1.5e-3)  # not normalised: it reads as a backlog
    assert raw is not None and raw.cpu_s > 0
    unnormalised = dataclasses.replace(slow_deep, reference_ms=None)  # one speed unknown
    assert fit_backlog(slow, unnormalised, 0.0, 1.5e-3, reference_ms=1.0) == dataclasses.replace(
        raw, deep_burst=unnormalised
    )
    with pytest.raises(ParameterError, match="a backlog needs"):
        Backlog(-1e-4, 40.0, deep)
    with pytest.raises(ParameterError, match="a backlog needs"):
        Backlog(1e-4, 0.0, deep)
    with pytest.raises(ParameterError, match="in_service"):
        BurstPoint(150.0, 0.3, 1.0, in_service=-1.0)


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


def steep(exponent: float = 4.0, ceiling: float = 0.98) -> ServiceCurve:
    """A service whose wake-up saving arrives late, as the bundled one's does."""
    return ServiceCurve(
        busy_cpu_s=1.4e-3,
        wake_cpu_s=3.0e-3,
        background=0.0,
        latency=LINES,
        exponent=exponent,
        ceiling=ceiling,
    )


def test_the_steep_form_solves_its_own_equation_and_saturates_at_its_ceiling() -> None:
    c = steep()
    for x in (20.0, 200.0, 500.0):
        rho = c.load(x)
        assert rho == pytest.approx(x * (1.4e-3 + 3.0e-3 * (1 - rho**4)), abs=1e-9)
        assert c.utilization(x) == pytest.approx(0.98 * rho)
    assert c.max_throughput_rps == pytest.approx(1 / 1.4e-3)
    assert c.load(c.max_throughput_rps) == pytest.approx(1.0, abs=1e-6)
    assert c.utilization(10 * c.max_throughput_rps) == pytest.approx(0.98)
    # Below the knee it costs nearly a + k per request, at saturation only a.
    assert c.utilization(20.0) / 20.0 == pytest.approx(0.98 * 4.4e-3, rel=0.01)


def test_a_capacity_probe_identifies_the_exponent_and_the_saturation() -> None:
    truth = steep()
    light = [
        LoadPoint(x, truth.utilization(x), {s: truth.latency_s(s, truth.load(x)) * 1e3
                                            for s in LATENCY_STATISTICS})
        for x in (30.0, 120.0, 200.0)
    ]  # fmt: skip
    probe = LoadPoint(truth.max_throughput_rps, 0.98, {s: 100.0 for s in LATENCY_STATISTICS})
    fitted = fit_service_curve(light, saturation=probe)
    assert fitted.exponent == 4.0 and fitted.ceiling == 0.98
    assert fitted.busy_cpu_s == pytest.approx(1.4e-3, rel=1e-3)
    assert fitted.wake_cpu_s == pytest.approx(3.0e-3, rel=1e-3)
    assert fitted.max_throughput_rps == pytest.approx(truth.max_throughput_rps, rel=1e-3)
    x = 0.9 * truth.max_throughput_rps  # far past the light stages: the knee
    assert fitted.utilization(x) == pytest.approx(truth.utilization(x), rel=1e-3)
    assert fitted.to_json()["saturation"] == {
        "throughput_rps": 714.286,
        "cpu_utilization": 0.98,
        "speed_reference_ms": None,
    }
    # The light stages alone cannot see the late saving: linear, saturation far too low.
    alone = fit_service_curve(light)
    assert alone.exponent == 1.0 and alone.max_throughput_rps < 0.8 * truth.max_throughput_rps


def test_the_latency_lines_take_their_own_share_of_the_wake_up() -> None:
    # With the steep form the wake-up CPU (3 ms) can exceed the whole light-load response
    # time; each statistic's on-path share is fitted (between none and all of k).
    light = [
        LoadPoint(27.0, 0.10, {"mean_ms": 2.6, "p50_ms": 2.2, "p95_ms": 5.0}),
        LoadPoint(132.0, 0.54, {"mean_ms": 3.2, "p50_ms": 2.5, "p95_ms": 7.5}),
        LoadPoint(262.0, 0.81, {"mean_ms": 3.0, "p50_ms": 2.2, "p95_ms": 7.1}),
    ]
    probe = LoadPoint(718.0, 0.987, {s: 200.0 for s in LATENCY_STATISTICS})
    fitted = fit_service_curve(light, saturation=probe)
    assert fitted.path_wake is not None
    for statistic in LATENCY_STATISTICS:
        assert 0.0 <= fitted.path_wake[statistic] <= fitted.wake_cpu_s + 1e-12
        for point in light:
            rho = point.cpu_utilization / fitted.ceiling
            modelled = fitted.latency_s(statistic, rho) * 1e3
            assert modelled == pytest.approx(point.latency_ms[statistic], rel=0.2)
    assert fitted.scaled(2.0).path_wake == {s: 2 * w for s, w in fitted.path_wake.items()}


def test_a_probe_reading_a_little_over_one_core_is_one_core() -> None:
    light = points_from(curve(), [30.0, 150.0, 250.0])
    probe = LoadPoint(800.0, 1.0034, light[0].latency_ms)  # scrape jitter at saturation
    fitted = fit_service_curve(light, saturation=probe)
    assert fitted.ceiling == 1.0
    assert fitted.max_throughput_rps == pytest.approx(800.0, rel=0.05)


def test_a_probe_that_did_not_saturate_is_refused() -> None:
    light = points_from(curve(), [30.0, 150.0])
    with pytest.raises(ValueError, match="not saturated"):
        fit_service_curve(light, saturation=LoadPoint(300.0, 0.7, light[0].latency_ms))
    with pytest.raises(ValueError, match="exponent"):
        ServiceCurve(busy_cpu_s=1e-3, wake_cpu_s=0.0, background=0.0, latency=LINES, exponent=0.5)


def test_at_speed_scales_the_work_and_keeps_the_mix_basis() -> None:
    base = dataclasses.replace(steep(), reference_demand_s=1.0e-3, reference_ms=1.0)
    slow = base.at_speed(1.5)  # the same work takes half as long again
    assert slow.reference_ms == 1.5
    assert slow.busy_cpu_s == pytest.approx(1.5 * base.busy_cpu_s)
    assert slow.wake_cpu_s == pytest.approx(1.5 * base.wake_cpu_s)
    assert slow.max_throughput_rps == pytest.approx(base.max_throughput_rps / 1.5)
    floor, stretched = slow.latency["p95_ms"]
    assert floor == LINES["p95_ms"][0] and stretched == pytest.approx(1.5 * LINES["p95_ms"][1])
    assert slow.reference_demand_s == base.reference_demand_s  # mixes compare as calibrated
    assert slow.at_speed(1.0).busy_cpu_s == pytest.approx(base.busy_cpu_s)
    # Either speed unknown: unchanged.
    assert base.at_speed(None) is base
    assert steep().at_speed(1.5) == steep()
    with pytest.raises(ValueError, match="reference_ms"):
        base.at_speed(0.0)


def test_the_fit_puts_stages_measured_at_different_speeds_on_one_speed() -> None:
    # A service that follows ``truth`` at a reference of 1.2 ms, measured while the machine
    # ran at 1.0, 1.2 and 1.4 ms (light stages) and 0.9 ms (the probe: a fast minute).
    truth = dataclasses.replace(steep(), reference_ms=1.2)
    speeds = (1.0, 1.2, 1.4)
    light = []
    for x, speed in zip((30.0, 120.0, 200.0), speeds, strict=True):
        there = truth.at_speed(speed)
        latency = {s: there.latency_s(s, there.load(x)) * 1e3 for s in LATENCY_STATISTICS}
        light.append(LoadPoint(x, there.utilization(x), latency, reference_ms=speed))
    fast = truth.at_speed(0.9)
    probe = LoadPoint(fast.max_throughput_rps, 0.98, {s: 1.0 for s in LATENCY_STATISTICS}, 0.9)
    fitted = fit_service_curve(light, saturation=probe)
    assert fitted.reference_ms == pytest.approx(1.2)  # the stages' mean
    assert fitted.max_throughput_rps == pytest.approx(truth.max_throughput_rps, rel=1e-3)
    assert fitted.busy_cpu_s == pytest.approx(truth.busy_cpu_s, rel=1e-3)
    assert fitted.wake_cpu_s == pytest.approx(truth.wake_cpu_s, rel=1e-3)
    assert fitted.to_json()["speed_reference_ms"] == 1.2
    assert fitted.to_json()["saturation"]["speed_reference_ms"] == 0.9
    # Without the references the fast probe is taken at face value: a third too much capacity.
    plain = fit_service_curve(
        [dataclasses.replace(p, reference_ms=None) for p in light],
        saturation=dataclasses.replace(probe, reference_ms=None),
    )
    assert plain.reference_ms is None
    assert plain.max_throughput_rps == pytest.approx(fast.max_throughput_rps, rel=0.02)
    assert plain.max_throughput_rps > 1.3 * truth.max_throughput_rps


def test_a_common_speed_needs_every_stage_and_the_probe_measured() -> None:
    latency = {s: 1.0 for s in LATENCY_STATISTICS}
    a, b = LoadPoint(10.0, 0.1, latency, 1.0), LoadPoint(20.0, 0.2, latency, 2.0)
    assert common_reference_ms([a, b]) == pytest.approx(1.5)
    assert common_reference_ms([a, b], LoadPoint(99.0, 0.99, latency, 9.0)) == 1.5
    assert common_reference_ms([a, LoadPoint(20.0, 0.2, latency)]) is None
    assert common_reference_ms([a, b], LoadPoint(99.0, 0.99, latency)) is None
    assert common_reference_ms([a, LoadPoint(20.0, 0.2, latency, math.nan)]) is None
    assert common_reference_ms([]) is None
