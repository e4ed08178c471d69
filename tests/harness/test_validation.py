"""The rules of `harness validate`: levels, stage pairs, CPU windows, errors, goals."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.validation import (
    COMPARED,
    GOAL_CPU_LIMIT,
    HOLDOUT_SHARES,
    ValidationSettings,
    aggregate_replications,
    calibration_stages,
    compare,
    compare_at_measured_speed,
    holdout_profile,
    measured_levels,
    needs_replication,
    noisy_levels,
    paired_stages,
    plan_levels,
    relative_error,
    spread,
    stage_cpu,
    summarise,
    validation_profile,
    window_mean,
    with_step_stages,
)
from models.prediction import predict
from models.profile import Profile, Stage, load_profile


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


def test_think_times_scale_and_nothing_else_changes(profile: Profile) -> None:
    scaled = validation_profile(profile, 0.1)
    assert scaled.personas.homeowner.think_time_s == pytest.approx(3.0)
    assert scaled.personas.operator.think_time_s == pytest.approx(4.5)
    assert scaled.personas.homeowner.share == profile.personas.homeowner.share
    assert scaled.service_demands == profile.service_demands


def test_holdout_mix_differs_and_is_valid(profile: Profile) -> None:
    mix = holdout_profile(profile)
    assert {n: p.share for n, p in mix.personas.items()} == HOLDOUT_SHARES
    assert mix.personas.operator.share > profile.personas.operator.share


def test_step_stages_reach_the_scenario(profile: Profile) -> None:
    stages = [Stage(users=5, duration_s=10.0, spawn_rate=5.0)]
    assert with_step_stages(profile, stages).scenario_stages("step") == tuple(stages)


def test_levels_span_light_load_to_past_saturation() -> None:
    settings = ValidationSettings(levels=5)
    levels = plan_levels(100.0, settings)
    assert levels == [15, 41, 68, 94, 120]
    assert plan_levels(3.0, settings) == sorted(set(plan_levels(3.0, settings)))
    with pytest.raises(ValueError, match="saturation point"):
        plan_levels(0.0, settings)


def test_levels_are_placed_by_predicted_cpu_inside_the_goals_range() -> None:
    # A service like the bundled one: CPU rises steeply, then its last 10% spans most of
    # the throughput range. Even spacing in users would put one level under 85% CPU.
    def cpu_at(users: int) -> float:
        return min(0.9, users / 100.0) + 0.1 * max(0.0, users - 90.0) / 510.0

    settings = ValidationSettings(levels=5)
    levels = plan_levels(500.0, settings, cpu_at)
    assert levels[:3] == [25, 50, 75]  # where the model says 25%, 50% and 75% CPU
    assert levels[3:] == [338, 600]  # then evenly up to 120% of the saturation point
    assert sum(cpu_at(n) <= 0.85 for n in levels) == 3
    assert plan_levels(500.0, settings) == [75, 206, 338, 469, 600]  # without the model
    # Fewer levels than CPU targets: the even spacing, as before.
    assert plan_levels(500.0, ValidationSettings(levels=2), cpu_at) == [75, 600]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="think_scale"):
        ValidationSettings(think_scale=0)
    with pytest.raises(ValueError, match="lowest_fraction"):
        ValidationSettings(lowest_fraction=1.5)
    with pytest.raises(ValueError, match="calibration_factors"):
        ValidationSettings(calibration_factors=())
    with pytest.raises(ValueError, match="got replications = 0 and max_replications = 4"):
        ValidationSettings(replications=0)
    with pytest.raises(ValueError, match="replications <= max_replications"):
        ValidationSettings(replications=3, max_replications=2)
    with pytest.raises(ValueError, match="replication_spread"):
        ValidationSettings(replication_spread=0.0)


def test_calibration_is_a_short_step_of_settle_and_measure_stages() -> None:
    settings = ValidationSettings(calibration_users=20, calibration_s=30.0, min_settle_s=8.0)
    stages = calibration_stages(settings, login_cpu_ms=40.0)
    assert [s.users for s in stages] == [20, 20, 100, 100, 200, 200]
    assert all(s.duration_s == 30.0 for s in stages[1::2])
    for settle, previous in zip(stages[2::2], (20, 100), strict=True):
        arriving = settle.users - previous
        assert settle.duration_s >= 2 * arriving * 0.040  # their logins, twice over
        assert settle.duration_s > arriving / settle.spawn_rate  # the ramp fits
    # Factors that round to the same load give one stage pair, not two.
    same = calibration_stages(ValidationSettings(calibration_users=2, calibration_factors=(1, 1.1)))
    assert [s.users for s in same] == [2, 2]


def test_each_level_gets_a_settle_and_a_measure_stage(profile: Profile) -> None:
    settings = ValidationSettings(min_measure_s=30, max_measure_s=60, min_settle_s=8)
    prediction = predict(validation_profile(profile, 0.1), [10, 50], servers=1)
    stages = paired_stages(prediction.levels, settings, login_cpu_ms=40.0)
    assert [s.users for s in stages] == [10, 10, 50, 50]
    settle, measure = stages[2], stages[3]
    assert 30 <= measure.duration_s <= 60
    # 40 arriving users hash a password each: 1.6 s of CPU, counted twice in the settle stage.
    assert settle.duration_s >= 2 * 40 * 0.040
    assert all(s.duration_s >= 8 for s in stages[::2])
    ramp_s = 40 / stages[2].spawn_rate
    assert ramp_s < settle.duration_s  # the ramp fits inside its stage (Locust blocks on it)


def test_stage_cpu_uses_the_scrapes_inside_the_window() -> None:
    scrapes = [{"t_s": t, "cpu_seconds": 0.5 * t} for t in range(0, 21, 2)]
    assert stage_cpu(scrapes, 4.0, 12.0) == pytest.approx(0.5)
    assert stage_cpu(scrapes, 4.5, 5.5) is None  # fewer than two scrapes inside


def test_window_mean_ignores_missing_values() -> None:
    records: list[dict[str, Any]] = [
        {"t_s": 1, "x": 1.0},
        {"t_s": 2, "x": None},
        {"t_s": 3, "x": 3.0},
    ]
    assert window_mean(records, "x", 0, 10) == pytest.approx(2.0)
    assert window_mean(records, "x", 20, 30) is None


def test_relative_error() -> None:
    assert relative_error(110.0, 100.0) == pytest.approx(0.10)
    assert relative_error(90.0, 100.0) == pytest.approx(-0.10)
    assert relative_error(1.0, 0.0) is None
    assert relative_error(None, 1.0) is None


def run_json(levels: list[tuple[int, float, float]]) -> dict[str, Any]:
    stages = []
    t = 0.0
    for users, rps, p95 in levels:
        for kind in ("settle", "measure"):
            stages.append(
                {
                    "users": users,
                    "started_at_s": t,
                    "elapsed_s": 10.0,
                    "throughput_rps": rps,
                    "mean_ms": p95 / 3,
                    "p50_ms": p95 / 4,
                    "p95_ms": p95,
                    "error_rate": 0.0,
                    "requests": int(rps * 10),
                    "name": kind,
                }
            )
            t += 10.0
    return {"stages": stages}


def test_measured_levels_take_every_second_stage() -> None:
    run = run_json([(10, 20.0, 30.0), (40, 70.0, 60.0)])
    scrapes = [{"t_s": float(t), "cpu_seconds": 0.25 * t} for t in range(0, 41, 2)]
    series = [{"t_s": float(t), "loadgen_cpu": 0.3} for t in range(0, 41, 2)]
    levels = measured_levels(run, scrapes, series)
    assert [lv["users"] for lv in levels] == [10, 40]
    assert levels[1]["throughput_rps"] == 70.0
    assert levels[0]["cpu_utilization"] == pytest.approx(0.25)
    assert levels[0]["loadgen_cpu"] == pytest.approx(0.3)


def test_compare_and_summarise(profile: Profile) -> None:
    fast = validation_profile(profile, 0.1)
    prediction = predict(fast, [10, 40], servers=1)
    p10, p40 = prediction.levels
    measured = [
        {"users": 10, "throughput_rps": p10.throughput_rps * 1.05, "mean_ms": p10.mean_ms,
         "p50_ms": p10.p50_ms, "p95_ms": p10.p95_ms / 1.2, "error_rate": 0.0,
         "cpu_utilization": 0.2, "loadgen_cpu": 0.95, "requests": 100},
        {"users": 40, "throughput_rps": p40.throughput_rps, "mean_ms": p40.mean_ms * 2,
         "p50_ms": p40.p50_ms, "p95_ms": p40.p95_ms, "error_rate": 0.0,
         "cpu_utilization": GOAL_CPU_LIMIT + 0.05, "loadgen_cpu": 0.5, "requests": 400},
    ]  # fmt: skip
    levels = compare(prediction.levels, measured, loadgen_warning=0.8)
    first, second = levels
    assert first["relative_error"]["throughput_rps"] == pytest.approx(1 / 1.05 - 1, abs=1e-4)
    assert first["relative_error"]["p95_ms"] == pytest.approx(0.2, abs=1e-4)
    assert first["loadgen_trustworthy"] is False
    assert first["meets_goals"] is True
    assert second["within_goal_range"] is False
    assert second["meets_goals"] is None  # above 85% CPU the goals do not apply
    summary = summarise(levels)
    assert summary["levels_within_goal_range"] == 1
    assert summary["worst_abs_relative_error"]["p95_ms"] == pytest.approx(0.2, abs=1e-4)
    assert summary["goals_met"] is True


def test_a_settle_cap_never_cuts_the_ramp(profile: Profile) -> None:
    settings = ValidationSettings(min_settle_s=1, max_settle_s=2, min_measure_s=5, max_measure_s=5)
    prediction = predict(validation_profile(profile, 0.05), [20, 180], servers=1)
    stages = paired_stages(prediction.levels, settings)
    previous = 0
    for stage in stages:
        assert abs(stage.users - previous) / stage.spawn_rate < stage.duration_s
        previous = stage.users
    # and the stage table is one the profile accepts (ramps fit inside their stages)
    assert with_step_stages(profile, stages).scenario_stages("step") == tuple(stages)


def one_run(
    users: int, rps: float, mean_ms: float, cpu: float = 0.5, loadgen: float = 0.3
) -> dict[str, Any]:
    """One replication's measured level, as :func:`measured_levels` makes it."""
    return {
        "users": users, "throughput_rps": rps, "mean_ms": mean_ms, "p50_ms": mean_ms * 0.8,
        "p95_ms": mean_ms * 3, "error_rate": 0.0, "requests": round(rps * 10),
        "cpu_utilization": cpu, "loadgen_cpu": loadgen,
    }  # fmt: skip


def test_spread_is_the_range_and_its_half_over_the_mean() -> None:
    assert spread([100.0, 110.0, 105.0]) == {
        "min": 100.0,
        "max": 110.0,
        "relative_half_range": pytest.approx(5 / 105),
    }
    assert spread([3.0])["relative_half_range"] == 0.0
    assert spread([0.0, 0.0])["relative_half_range"] is None  # no mean to be relative to


def test_replications_are_compared_on_their_mean_with_the_spread(profile: Profile) -> None:
    runs = [
        [one_run(10, 100.0, 4.0), one_run(40, 380.0, 6.0, cpu=0.9)],
        [one_run(10, 110.0, 5.0, loadgen=0.85), one_run(40, 400.0, 6.0, cpu=0.95)],
        [one_run(10, 105.0, 6.0)],  # this run was cut short before its second level
    ]
    low, high = aggregate_replications(runs)
    assert low["users"] == 10 and low["replications"] == 3
    assert low["throughput_rps"] == pytest.approx(105.0)
    assert low["mean_ms"] == pytest.approx(5.0)
    assert low["requests"] == 1050
    assert low["loadgen_cpu"] == 0.85  # one overloaded load generator taints the mean
    assert low["spread"]["mean_ms"] == {
        "min": 4.0,
        "max": 6.0,
        "relative_half_range": pytest.approx(0.2),
    }
    assert [r["replication"] for r in low["per_replication"]] == [1, 2, 3]
    assert [r["throughput_rps"] for r in low["per_replication"]] == [100.0, 110.0, 105.0]
    assert high["replications"] == 2 and high["cpu_utilization"] == pytest.approx(0.925)
    assert [r["replication"] for r in high["per_replication"]] == [1, 2]

    prediction = predict(validation_profile(profile, 0.1), [10, 40], servers=1)
    first, second = compare(prediction.levels, [low, high], loadgen_warning=0.8)
    p10 = prediction.levels[0]
    assert first["measured"]["throughput_rps"] == pytest.approx(105.0)
    expected = (p10.throughput_rps - 105.0) / 105.0  # against the mean, not one run
    assert first["relative_error"]["throughput_rps"] == pytest.approx(expected, abs=1e-4)
    assert first["loadgen_trustworthy"] is False
    assert first["replications"] == 3 and len(first["per_replication"]) == 3
    assert first["spread"]["throughput_rps"]["relative_half_range"] == pytest.approx(0.0476)
    assert second["within_goal_range"] is False
    summary = summarise([first, second])
    assert summary["replications"] == 3
    # the widest spread within the goals' range only (the second level is above 85% CPU)
    assert summary["widest_spread"] == {
        "throughput_rps": pytest.approx(0.0476),
        "mean_ms": pytest.approx(0.2),
    }
    # One run: the same comparison as before replications, with a spread of zero.
    (single,) = compare(prediction.levels[:1], aggregate_replications(runs[:1])[:1], 0.8)
    assert single["replications"] == 1
    assert single["spread"]["throughput_rps"]["relative_half_range"] == 0.0


def twice(first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    return aggregate_replications([[first], [second]])


def test_another_replication_while_the_noise_is_half_the_goals() -> None:
    settings = ValidationSettings(replications=2, max_replications=4)
    # Throughput ±4.8% and mean ±4.8%: under half their goals (5% and 10%), enough.
    quiet = twice(one_run(10, 100.0, 5.0), one_run(10, 110.0, 5.5))
    assert noisy_levels(quiet, settings) == []
    assert needs_replication(quiet, 1, settings)  # the minimum is always run
    assert not needs_replication(quiet, 2, settings)
    # Throughput ±5.7%: above half its goal, though within the goal itself.
    throughput = twice(one_run(10, 100.0, 5.0), one_run(10, 112.0, 5.0))
    ((users, metric, half),) = noisy_levels(throughput, settings)
    assert (users, metric) == (10, "throughput_rps") and half == pytest.approx(6 / 106)
    assert needs_replication(throughput, 2, settings)
    assert needs_replication(throughput, 3, settings)
    assert not needs_replication(throughput, 4, settings)  # never past the maximum
    # Mean response time ±10.7%: above half of its 20% goal.
    mean = twice(one_run(10, 100.0, 5.0), one_run(10, 100.0, 6.2))
    ((users, metric, half),) = noisy_levels(mean, settings)
    assert (users, metric) == (10, "mean_ms") and half == pytest.approx(0.6 / 5.6)
    # p95's noise does not count (it goes from 15 to 30 ms here, all else the same).
    p95 = twice(one_run(10, 100.0, 5.0), {**one_run(10, 100.0, 5.0), "p95_ms": 30.0})
    assert not needs_replication(p95, 2, settings)
    # Above 85% CPU the goals do not apply, and neither does their noise.
    saturated = twice(one_run(10, 100.0, 5.0, cpu=0.95), one_run(10, 150.0, 9.0, cpu=0.99))
    assert not needs_replication(saturated, 2, settings)
    # The threshold is a fraction of the goals: at the full goal, ±5.7% is quiet enough.
    assert not needs_replication(throughput, 2, ValidationSettings(replication_spread=1.0))
    # The compared levels of validation.json are read the same way.
    compared = [{**throughput[0], "measured": {"cpu_utilization": 0.5}}]
    assert needs_replication(compared, 2, settings)


def test_each_level_carries_the_machine_speed_measured_over_its_window() -> None:
    run = run_json([(10, 20.0, 30.0), (40, 70.0, 60.0)])  # measured: 10-20 s and 30-40 s
    scrapes = [{"t_s": float(t), "cpu_seconds": 0.25 * t} for t in range(0, 41, 2)]
    samples = [(t / 2, 1.0 if t < 60 else 2.0) for t in range(0, 81)]  # slower from 30 s
    first, second = measured_levels(run, scrapes, [], samples)
    assert first["speed_reference_ms"] == pytest.approx(1.0)
    assert second["speed_reference_ms"] == pytest.approx(2.0)
    assert measured_levels(run, scrapes, [])[0]["speed_reference_ms"] is None  # not measured
    # Over replications: the mean, as every measured figure; kept per replication too.
    (level,) = aggregate_replications(
        [[{**one_run(10, 100.0, 5.0), "speed_reference_ms": s}] for s in (1.0, 1.4)]
    )
    assert level["speed_reference_ms"] == pytest.approx(1.2)
    assert [r["speed_reference_ms"] for r in level["per_replication"]] == [1.0, 1.4]


def test_the_prediction_at_the_measured_speed_is_compared_beside_the_plain_one(
    profile: Profile,
) -> None:
    fast = validation_profile(profile, 0.1)
    prediction = predict(fast, [10, 40], servers=1)
    p10, p40 = prediction.levels
    measured = [
        {**one_run(10, p10.throughput_rps * 0.8, p10.mean_ms), "speed_reference_ms": 1.25},
        {**one_run(40, p40.throughput_rps, p40.mean_ms), "speed_reference_ms": None},
    ]
    levels = compare(prediction.levels, measured, loadgen_warning=0.8)
    assert levels[0]["measured"]["speed_reference_ms"] == 1.25
    assert levels[0]["meets_goals"] is False  # 25% too much throughput as predicted
    # The same levels predicted on the machine as it was (here: 20% less throughput).
    moved = [dataclasses.replace(p10, throughput_rps=p10.throughput_rps * 0.8), p40]
    compare_at_measured_speed(levels, moved, curve_reference_ms=1.0)
    block = levels[0]["at_measured_speed"]
    assert block["speed_factor"] == 1.25 and block["speed_reference_ms"] == 1.25
    assert block["relative_error"]["throughput_rps"] == pytest.approx(0.0, abs=1e-9)
    assert block["meets_goals"] is True
    assert "at_measured_speed" not in levels[1]  # its speed was not measured
    summary = summarise(levels)
    assert summary["goals_met"] is False
    assert summary["at_measured_speed"] is None  # not every level in the goals' range has one
    summary = summarise(levels[:1])
    assert summary["at_measured_speed"] == {
        "worst_abs_relative_error": {**dict.fromkeys(COMPARED, None), **{
            k: pytest.approx(abs(v), abs=1e-4)
            for k, v in block["relative_error"].items() if v is not None
        }},
        "goals_met": True,
    }  # fmt: skip
    # A curve without a speed reference: nothing to add.
    again = compare(prediction.levels, measured, loadgen_warning=0.8)
    compare_at_measured_speed(again, moved, curve_reference_ms=None)
    assert all("at_measured_speed" not in lv for lv in again)
