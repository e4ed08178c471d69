"""What a validation runs: the profiles, the levels it plans, and each run's stages."""

from __future__ import annotations

import pytest

from harness.validate.plan import (
    calibration_stages,
    holdout_levels,
    holdout_profile,
    paired_stages,
    plan_levels,
    validation_profile,
    with_step_stages,
)
from harness.validate.settings import HOLDOUT_SHARES, ValidationSettings
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
    # Fewer levels than CPU targets: evenly spaced.
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


def test_the_held_out_levels_sit_at_their_cpu_targets() -> None:
    def cpu_at(users: int) -> float:
        return users / 200.0

    settings = ValidationSettings(holdout_levels=2, holdout_cpu_targets=(0.5, 0.75))
    assert holdout_levels(300.0, settings, cpu_at) == [100, 150]
    # Without the model's CPU: fractions of that mix's saturation point.
    assert holdout_levels(300.0, settings) == [120, 240]
    assert holdout_levels(300.0, ValidationSettings(holdout_levels=1)) == [120]
