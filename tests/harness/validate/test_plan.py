"""What a validation runs: the profiles, the levels it plans, and each run's stages."""

from __future__ import annotations

import dataclasses

import pytest

from harness.validate.plan import (
    calibration_stages,
    calibration_users,
    holdout_profile,
    levels_at_cpu,
    paired_stages,
    pilot_stages,
    think_profile,
    users_at_cpu,
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
    assert scaled.personas.get("homeowner").think_time_s == pytest.approx(3.0)
    assert scaled.personas.get("operator").think_time_s == pytest.approx(4.5)
    assert scaled.personas.get("homeowner").share == profile.personas.get("homeowner").share
    assert scaled.service_demands == profile.service_demands


def test_holdout_mix_differs_and_is_valid(profile: Profile) -> None:
    mix = holdout_profile(profile)
    assert {n: p.share for n, p in mix.personas.items()} == HOLDOUT_SHARES
    assert mix.personas.get("operator").share > profile.personas.get("operator").share


def test_step_stages_reach_the_scenario(profile: Profile) -> None:
    stages = [Stage(users=5, duration_s=10.0, spawn_rate=5.0)]
    assert with_step_stages(profile, stages).scenario_stages("step") == tuple(stages)


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


def test_a_level_the_goals_will_not_judge_is_measured_for_the_shortest_window(
    profile: Profile,
) -> None:
    """Past the goals' 85% predicted CPU a level is there for the saturation throughput: its
    measure stage is unjudged_measure_s however long the model says it takes to settle."""
    settings = ValidationSettings(
        min_measure_s=30, max_measure_s=60, min_settle_s=8, unjudged_measure_s=20
    )
    (level,) = predict(validation_profile(profile, 0.1), [10], servers=1).levels
    light = dataclasses.replace(level, settling_time_s=50.0, cpu_utilization=0.5)
    heavy = dataclasses.replace(light, users=20, cpu_utilization=0.9)
    stages = paired_stages([light, heavy], settings)
    assert [s.duration_s for s in stages[1::2]] == [50.0, 20.0]
    with pytest.raises(ValueError, match="unjudged_measure_s must be > 0"):
        ValidationSettings(unjudged_measure_s=0.0)


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


def test_held_out_think_times_multiply_every_persona(profile: Profile) -> None:
    slower = think_profile(validation_profile(profile, 0.05), 2.0)
    assert slower.personas.get("homeowner").think_time_s == pytest.approx(3.0)
    assert slower.personas.get("contractor").think_time_s == pytest.approx(2.0)
    assert slower.personas.get("homeowner").share == profile.personas.get("homeowner").share


def test_the_pilot_sizes_the_calibration_under_its_cpu_targets() -> None:
    settings = ValidationSettings(calibration_cpu_targets=(0.12, 0.27, 0.42))
    # 0.004 cores per user at light load: 30, 67 and 105 users; CPU per user falls as the
    # load rises, so each stage lands at or under its target.
    assert calibration_users(0.004, settings) == [30, 67, 105]
    assert calibration_users(0.5, settings) == [1]  # a very heavy user: one user, once
    with pytest.raises(ValueError, match="CPU per user"):
        calibration_users(0.0, settings)
    pilot = pilot_stages(ValidationSettings(pilot_users=10, pilot_s=6.0), login_cpu_ms=40.0)
    assert [s.users for s in pilot] == [10, 10] and pilot[1].duration_s == 6.0


def test_levels_sit_where_the_model_predicts_each_cpu_target() -> None:
    def cpu_at(users: int) -> float:
        return min(1.0, users / 200.0)

    assert users_at_cpu(cpu_at, 0.5, 400.0) == 100
    assert users_at_cpu(cpu_at, 2.0, 400.0) == 400  # never reached: the saturation point
    assert levels_at_cpu(cpu_at, (0.15, 0.4, 0.95), 250.0) == [30, 80, 190]
    assert levels_at_cpu(cpu_at, (0.5, 0.5), 250.0) == [100]  # one level per distinct load

    # A target at the goals' 85% lands under it (so that it is judged), not just over it.
    def curved(users: int) -> float:
        return users / 199.0

    (at_goal,) = levels_at_cpu(curved, (0.85,), 250.0)
    assert curved(at_goal) <= 0.85 < curved(at_goal + 1)
    assert levels_at_cpu(curved, (0.95,), 250.0) == [users_at_cpu(curved, 0.95, 250.0)]
    with pytest.raises(ValueError, match="saturation point"):
        levels_at_cpu(cpu_at, (0.5,), 0.0)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="think_scale"):
        ValidationSettings(think_scale=0)
    with pytest.raises(ValueError, match=r"calibration_cpu_targets must each be in \(0, 0.5\]"):
        ValidationSettings(calibration_cpu_targets=(0.2, 0.6))  # over the calibration's limit
    with pytest.raises(ValueError, match="extrapolation_cpu_targets needs at least one"):
        ValidationSettings(extrapolation_cpu_targets=())
    with pytest.raises(ValueError, match="beyond_factors"):
        ValidationSettings(beyond_factors=(0.5,))
    with pytest.raises(ValueError, match="holdout_think_factor"):
        ValidationSettings(holdout_think_factor=1.0)
    with pytest.raises(ValueError, match="got replications = 0 and max_replications = 3"):
        ValidationSettings(replications=0)
    with pytest.raises(ValueError, match="replication_spread"):
        ValidationSettings(replication_spread=0.0)
    with pytest.raises(ValueError, match=r"topology_cpu_targets must each be in \(0, 1\]"):
        ValidationSettings(topology_cpu_targets=(0.5, 1.2))


def test_a_calibration_can_end_idle() -> None:
    settings = ValidationSettings(calibration_s=30.0, min_settle_s=8.0)
    stages = calibration_stages([20, 60], settings, idle_s=10.0)
    assert [s.users for s in stages] == [20, 20, 60, 60, 0, 0]
    settle, idle = stages[-2:]
    assert idle.duration_s == 10.0  # measured with nobody left
    # the users gone first: no logins to wait for, so shorter than a load's settle
    assert 60 / settle.spawn_rate < settle.duration_s < 8.0
    assert calibration_stages([20, 60], settings) == stages[:-2]  # none unless asked


def test_calibration_stages_settle_then_measure_each_load() -> None:
    settings = ValidationSettings(calibration_s=30.0, min_settle_s=8.0)
    stages = calibration_stages([100, 20, 60], settings, login_cpu_ms=40.0)
    assert [s.users for s in stages] == [20, 20, 60, 60, 100, 100]
    assert all(s.duration_s == 30.0 for s in stages[1::2])
    for settle, previous in zip(stages[2::2], (20, 60), strict=True):
        arriving = settle.users - previous
        assert settle.duration_s >= 2 * arriving * 0.040  # their logins, twice over
        assert settle.duration_s > arriving / settle.spawn_rate  # the ramp fits
