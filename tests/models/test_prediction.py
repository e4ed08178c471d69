"""The closed-network prediction of a load test, against exact MVA and the asymptotes."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from models.catalogue import PERSONAS
from models.laws import saturation_population
from models.multiserver import multiserver_mva
from models.prediction import demand_per_request_s, predict, predict_curve, split_users
from models.profile import Profile, load_profile
from models.service_curve import Backlog, BurstPoint, ServiceCurve
from models.workload import workloads

STAGE_KEYS = {
    "users", "throughput_rps", "throughput_rps_low", "throughput_rps_high", "mean_ms",
    "p50_ms", "p95_ms", "cpu_utilization", "error_rate",
}  # fmt: skip


@pytest.fixture(scope="module")
def homeowners_only() -> Profile:
    """One persona, so that the three-class model must equal the single-class exact MVA."""
    return load_profile(
        overrides={
            "personas": {
                "homeowner": {"share": 1.0},
                "contractor": {"share": 0.0},
                "operator": {"share": 0.0},
            },
            "business": {"bids_per_day": 0},
        }
    )


def test_split_users_sums_and_follows_shares() -> None:
    profile = load_profile()
    assert split_users(profile, 20) == [12, 7, 1]
    assert split_users(profile, 1) == [1, 0, 0]
    assert sum(split_users(profile, 997)) == 997


def test_single_persona_matches_exact_multiserver_mva(homeowners_only: Profile) -> None:
    work = workloads(homeowners_only)["homeowner"]
    d = homeowners_only.service_demands
    cpu = sum(v * d[e].cpu_ms for e, v in work.visits.items()) / 1e3  # per screen
    levels = [1, 50, 2000, 6000, 12000, 20000]
    prediction = predict(homeowners_only, levels, servers=2)
    exact = multiserver_mva([cpu], servers=[2], population=max(levels), think_time=30.0)
    for level in prediction.levels:
        screens = float(exact.throughput[level.users - 1])
        # Seidmann + Schweitzer: throughput within 2% of exact when Z >> D (it is here).
        assert level.throughput_rps == pytest.approx(screens * work.calls_per_step, rel=0.02)
        assert level.throughput_rps <= screens * work.calls_per_step * 1.001  # pessimistic
    # Saturation point: (D + Z) / (D / c) for one class on c servers.
    assert prediction.saturation_users == pytest.approx(
        2 * saturation_population([cpu], think_time=30.0), rel=1e-9
    )


def test_asymptotes_light_and_heavy_load() -> None:
    profile = load_profile()
    prediction = predict(profile, [1, 60_000], servers=1)
    light, heavy = prediction.levels
    # One user: no queueing, the mean response is the mean request demand.
    assert light.cpu_utilization < 1e-3
    assert light.p95_ms > light.mean_ms > light.p50_ms > 0
    # Far past saturation: the CPU is the bottleneck at 100% and throughput is 1/s_cpu.
    assert heavy.cpu_utilization == pytest.approx(1.0, abs=1e-3)
    assert heavy.users > prediction.saturation_users
    assert heavy.mean_ms > 1000.0


def test_band_brackets_the_nominal_prediction() -> None:
    prediction = predict(load_profile(), [50, 7000, 9000], servers=2)
    for level in prediction.levels:
        assert level.throughput_rps_low <= level.throughput_rps <= level.throughput_rps_high
        assert level.mean_ms_low <= level.mean_ms <= level.mean_ms_high
        assert level.p95_ms_low <= level.p95_ms <= level.p95_ms_high
    near_knee = prediction.levels[-1]
    assert (
        near_knee.throughput_rps_high - near_knee.throughput_rps_low
        > 0.01 * near_knee.throughput_rps
    )


def test_settling_time_grows_with_ramp_and_near_saturation() -> None:
    profile = load_profile()
    quick = predict(profile, [100], servers=2).levels[0]
    ramped = predict(profile, [100], servers=2, spawn_rate=2.0).levels[0]
    assert ramped.settling_time_s == pytest.approx(quick.settling_time_s + 50.0, rel=0.01)
    # Three think-time cycles at least (mean think time of the mix is 20-45 s).
    assert quick.settling_time_s > 3 * 20.0
    knee = predict(profile, [8000], servers=2).levels[0]
    assert knee.settling_time_s > quick.settling_time_s


def test_prediction_json_has_the_artifact_keys(tmp_path: Path) -> None:
    prediction = predict(load_profile(), [10, 25], servers=2, calibrated=True)
    path = tmp_path / "prediction.json"
    prediction.write(path)
    data = json.loads(path.read_text("utf-8"))
    assert data["model"] == "mva" and data["calibrated"] is True
    assert [s["users"] for s in data["stages"]] == [10, 25]
    for stage in data["stages"]:
        assert set(stage) >= STAGE_KEYS
        assert stage["error_rate"] == 0.0
        assert all(math.isfinite(v) for v in stage.values() if isinstance(v, float))


def test_bad_arguments_name_the_value() -> None:
    profile = load_profile()
    with pytest.raises(ValueError, match="servers must be >= 1, got 0"):
        predict(profile, [10], servers=0)
    with pytest.raises(ValueError, match="every level needs >= 1 user, got 0"):
        predict(profile, [0], servers=1)
    with pytest.raises(ValueError, match="uncertainty"):
        predict(profile, [10], servers=1, uncertainty=1.5)


def test_latency_floor_adds_time_but_no_queue() -> None:
    profile = load_profile()
    plain = predict(profile, [10, 5000], servers=1)
    floored = predict(profile, [10, 5000], servers=1, latency_floor_ms=3.0)
    # At light load every request pays the floor once, on top of what it paid before.
    assert floored.levels[0].mean_ms == pytest.approx(plain.levels[0].mean_ms + 3.0, rel=0.02)
    assert floored.levels[0].p95_ms > plain.levels[0].p95_ms
    # The floor never queues: the CPU bottleneck is unchanged, and saturation moves only by
    # the floor's share of a user's cycle (a few ms against seconds of think time).
    assert floored.saturation_users == pytest.approx(plain.saturation_users, rel=0.01)
    assert floored.levels[1].throughput_rps == pytest.approx(
        plain.levels[1].throughput_rps, rel=0.01
    )
    assert floored.to_json()["latency_floor_ms"] == 3.0
    with pytest.raises(ValueError, match="latency_floor_ms"):
        predict(profile, [10], servers=1, latency_floor_ms=-1.0)


CURVE_LINES = {"mean_ms": (2.0e-3, 0.3e-3), "p50_ms": (1.8e-3, 0.1e-3), "p95_ms": (3.0e-3, 1.5e-3)}


def fitted_curve(profile: Profile) -> ServiceCurve:
    return ServiceCurve(
        busy_cpu_s=2.0e-3,
        wake_cpu_s=1.5e-3,
        background=0.0,
        latency=CURVE_LINES,
        reference_demand_s=demand_per_request_s(profile),
    )


def test_curve_prediction_solves_the_closed_loop() -> None:
    profile = load_profile(overrides={"personas": {"homeowner": {"think_time_s": 1.5}}})
    curve = fitted_curve(profile)
    prediction = predict_curve(profile, [5, 200, 100_000], curve)
    work = workloads(profile)
    for level in prediction.levels:
        # The fixed point: each persona's users cycle through think + calls x mean response.
        r = level.mean_ms / 1e3
        cycle = sum(
            n * work[p].calls_per_step / (work[p].think_time_s + work[p].calls_per_step * r)
            for p, n in zip(PERSONAS, split_users(profile, level.users), strict=True)
        )
        assert level.throughput_rps == pytest.approx(cycle, rel=1e-6)
        # CPU and latency are the curve's at the predicted throughput (below saturation).
        assert level.cpu_utilization == pytest.approx(curve.utilization(level.throughput_rps))
        u = level.cpu_utilization
        if u < 1.0:
            assert level.p95_ms == pytest.approx(curve.latency_s("p95_ms", u) * 1e3, rel=1e-6)
        assert level.p50_ms <= level.mean_ms <= level.p95_ms
    light, _, heavy = prediction.levels
    assert light.mean_ms == pytest.approx(2.0 + 1.5 + 0.3, rel=0.01)  # floor + wake + work
    # Far past saturation the throughput is the curve's capacity, the CPU is full, and the
    # mean is the response time law's (the fixed-point check above holds for it too).
    assert heavy.throughput_rps == pytest.approx(curve.max_throughput_rps, rel=1e-3)
    assert heavy.cpu_utilization == pytest.approx(1.0, abs=1e-4)
    assert heavy.users > prediction.saturation_users
    assert heavy.mean_ms > 1000.0 and math.isfinite(heavy.p95_ms)
    data = prediction.to_json()
    assert data["model"] == "service-curve"
    assert data["service_curve"]["max_throughput_rps"] == pytest.approx(500.0)


def test_curve_prediction_band_and_mix() -> None:
    profile = load_profile(overrides={"personas": {"homeowner": {"think_time_s": 1.5}}})
    curve = fitted_curve(profile)
    prediction = predict_curve(profile, [50, 400], curve, spawn_rate=10.0)
    for level in prediction.levels:
        assert level.throughput_rps_low <= level.throughput_rps <= level.throughput_rps_high
        assert level.mean_ms_low <= level.mean_ms <= level.mean_ms_high
        assert level.p95_ms_low <= level.p95_ms <= level.p95_ms_high
        assert level.settling_time_s > level.users / 10.0
    # A mix whose requests cost more CPU uses more CPU at the same throughput.
    heavier = load_profile(
        overrides={
            "personas": {"homeowner": {"think_time_s": 1.5}},
            "service_demands": {"GET /jobs": {"cpu_ms": 50.0}},
        }
    )
    assert demand_per_request_s(heavier) > demand_per_request_s(profile)
    other = predict_curve(heavier, [50], curve).levels[0]
    assert other.cpu_utilization > prediction.levels[0].cpu_utilization
    with pytest.raises(ValueError, match="uncertainty"):
        predict_curve(profile, [10], curve, uncertainty=1.0)
    with pytest.raises(ValueError, match="every level"):
        predict_curve(profile, [0], curve)


def test_curve_with_a_flat_mean_saturates_by_the_response_time_law() -> None:
    # Calibration stages that showed no stretch of the mean (B = 0) give a curve whose mean
    # never grows: past X_max the users' cycle, not the curve, sets the mean response.
    profile = load_profile(overrides={"personas": {"homeowner": {"think_time_s": 1.5}}})
    lines = {"mean_ms": (3.0e-3, 0.0), "p50_ms": (2.5e-3, 0.0), "p95_ms": (7.0e-3, 0.3e-3)}
    curve = ServiceCurve(busy_cpu_s=2.5e-3, wake_cpu_s=1.0e-3, background=0.0, latency=lines)
    below, above = predict_curve(profile, [50, 5000], curve).levels
    assert below.mean_ms == pytest.approx(curve.latency_s("mean_ms", below.cpu_utilization) * 1e3)
    assert above.throughput_rps == pytest.approx(curve.max_throughput_rps)
    work = workloads(profile)
    r = above.mean_ms / 1e3
    offered = sum(
        n * work[p].calls_per_step / (work[p].think_time_s + work[p].calls_per_step * r)
        for p, n in zip(PERSONAS, split_users(profile, 5000), strict=True)
    )
    assert offered == pytest.approx(curve.max_throughput_rps, rel=1e-6)
    assert above.mean_ms > 100 * below.mean_ms
    assert above.p95_ms > above.mean_ms and math.isfinite(above.p95_ms)


def test_a_backlog_lowers_the_capacity_by_what_the_queued_users_cost() -> None:
    profile = load_profile(overrides={"personas": {"homeowner": {"think_time_s": 1.5}}})
    plain = fitted_curve(profile)  # a = 2 ms: 500 req/s at most
    # Each request costs 0.2 ms more per e-fold of the requests in the service past 40.
    deep = BurstPoint(150.0, 0.35, period_s=4.0, in_service=160.0)
    backlogged = dataclasses.replace(plain, backlog=Backlog(0.2e-3, 40.0, deep))
    users = [50, 200, 3000]
    without = predict_curve(profile, users, plain).levels
    light, moderate, saturated = predict_curve(profile, users, backlogged).levels
    # Below the capacity a few requests are in the service, fewer than the burst's 40:
    # nothing changes (but the root solver's last digits: it tries deeper loads on its way).
    for level, alone in zip((light, moderate), without[:2], strict=True):
        for field in dataclasses.fields(level):
            value, expected = getattr(level, field.name), getattr(alone, field.name)
            assert value == (expected if expected is None else pytest.approx(expected, rel=1e-9))
    # Past it the requests the cycle holds in the service (X·R / U, Little's law over the busy
    # time) set the cost of each, and the core fills at the X where
    # U = X·(a + g·ln(X·R / U / 40) + k·(1 − U)) = 1.
    x, r, u = saturated.throughput_rps, saturated.mean_ms / 1e3, saturated.cpu_utilization
    busy = 2.0e-3 + 0.2e-3 * math.log(x * r / u / 40.0)
    assert x * (busy + 1.5e-3 * (1.0 - u)) == pytest.approx(u, rel=1e-6)
    assert u == pytest.approx(1.0, abs=1e-4)
    assert 340.0 < x < 0.75 * without[2].throughput_rps  # 1,900 in the service: 2.75 ms each
    work = workloads(profile)  # and the mean is still the response time law's at that X
    offered = sum(
        n * work[p].calls_per_step / (work[p].think_time_s + work[p].calls_per_step * r)
        for p, n in zip(PERSONAS, split_users(profile, 3000), strict=True)
    )
    assert offered == pytest.approx(x, rel=1e-6)
    # A backlog that costs nothing is no backlog.
    free = dataclasses.replace(plain, backlog=Backlog(0.0, 40.0, deep))
    assert predict_curve(profile, users, free).levels == without


def test_curve_prediction_at_the_machine_speed_measured_per_level() -> None:
    profile = load_profile(overrides={"personas": {"homeowner": {"think_time_s": 1.5}}})
    curve = dataclasses.replace(fitted_curve(profile), reference_ms=1.0)
    users = [50, 100_000]
    plain = predict_curve(profile, users, curve)
    # The machine ran half as fast again at the saturated level, as fast as calibrated at the
    # light one (and a level without a measurement is predicted at the curve's own speed).
    moved = predict_curve(profile, users, curve, speed_ms={100_000: 1.5})
    assert moved.levels[0] == plain.levels[0]
    saturated = moved.levels[1]
    assert saturated.throughput_rps == pytest.approx(curve.max_throughput_rps / 1.5, rel=1e-3)
    assert plain.levels[1].throughput_rps == pytest.approx(curve.max_throughput_rps, rel=1e-3)
    # A slower machine at a light level: the same throughput, more of the CPU, longer work.
    light = predict_curve(profile, users, curve, speed_ms={50: 1.5}).levels[0]
    assert light.throughput_rps == pytest.approx(plain.levels[0].throughput_rps, rel=0.02)
    assert light.cpu_utilization > 1.4 * plain.levels[0].cpu_utilization
    assert light.mean_ms > plain.levels[0].mean_ms
    # The saturation point and the curve reported stay the calibration's.
    assert moved.saturation_users == plain.saturation_users
    assert moved.curve == plain.curve
    # A curve fitted without speed references ignores the measurements.
    unmeasured = dataclasses.replace(curve, reference_ms=None)
    assert predict_curve(profile, users, unmeasured, speed_ms={50: 1.5}).levels == (
        predict_curve(profile, users, unmeasured).levels
    )
