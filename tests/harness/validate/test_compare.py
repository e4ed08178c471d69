"""Prediction against measurement: relative errors, the goals, the summary, saturation, and the
comparison at the machine speed each level was measured at."""

from __future__ import annotations

import dataclasses

import pytest

from harness.validate.compare import (
    at_measured_speed,
    compare,
    relative_error,
    saturation_check,
    summarise,
)
from harness.validate.measure import aggregate_replications
from harness.validate.plan import validation_profile
from harness.validate.settings import GOAL_CPU_LIMIT
from models.prediction import predict
from models.profile import Profile, load_profile
from models.validation_records import COMPARED, ComparedLevel, MeasuredLevel
from tests.harness.validate.helpers import level_prediction, one_run


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


def test_relative_error() -> None:
    assert relative_error(110.0, 100.0) == pytest.approx(0.10)
    assert relative_error(90.0, 100.0) == pytest.approx(-0.10)
    assert relative_error(1.0, 0.0) is None
    assert relative_error(None, 1.0) is None


def test_compare_and_summarise(profile: Profile) -> None:
    prediction = predict(validation_profile(profile, 0.1), [10, 40], servers=1)
    p10, p40 = prediction.levels
    measured = [
        MeasuredLevel(users=10, throughput_rps=p10.throughput_rps * 1.05, mean_ms=p10.mean_ms,
                      p50_ms=p10.p50_ms, p95_ms=p10.p95_ms / 1.2, error_rate=0.0,
                      cpu_utilization=0.2, loadgen_cpu=0.95, requests=100),
        MeasuredLevel(users=40, throughput_rps=p40.throughput_rps, mean_ms=p40.mean_ms * 2,
                      p50_ms=p40.p50_ms, p95_ms=p40.p95_ms, error_rate=0.0,
                      cpu_utilization=GOAL_CPU_LIMIT + 0.05, loadgen_cpu=0.5, requests=400),
    ]  # fmt: skip
    first, second = compare(
        prediction.levels, aggregate_replications([measured]), loadgen_warning=0.8
    )
    assert first.relative_error["throughput_rps"] == pytest.approx(1 / 1.05 - 1)
    assert first.relative_error["p95_ms"] == pytest.approx(0.2)
    assert first.relative_error["error_rate"] is None  # predicted 0: no relative error
    assert first.loadgen_trustworthy is False
    assert first.meets_goals is True
    assert second.within_goal_range is False
    assert second.meets_goals is None  # above 85% CPU the goals do not apply
    summary = summarise([first, second])
    assert summary.levels_within_goal_range == 1
    assert summary.worst_abs_relative_error["p95_ms"] == pytest.approx(0.2)
    assert summary.goals_met is True
    assert summarise([second]).goals_met is False  # nothing judged is nothing met


def test_replications_are_compared_on_their_mean_with_the_spread(profile: Profile) -> None:
    runs = [
        [one_run(10, 100.0, 4.0), one_run(40, 380.0, 6.0, cpu=0.9)],
        [one_run(10, 110.0, 5.0, loadgen=0.85), one_run(40, 400.0, 6.0, cpu=0.95)],
        [one_run(10, 105.0, 6.0)],
    ]
    prediction = predict(validation_profile(profile, 0.1), [10, 40], servers=1)
    first, second = compare(prediction.levels, aggregate_replications(runs), loadgen_warning=0.8)
    p10 = prediction.levels[0]
    assert first.measured.throughput_rps == pytest.approx(105.0)
    expected = (p10.throughput_rps - 105.0) / 105.0  # against the mean, not one run
    assert first.relative_error["throughput_rps"] == pytest.approx(expected)
    assert first.loadgen_trustworthy is False
    assert first.replications == 3 and len(first.per_replication) == 3
    assert first.spread["throughput_rps"].relative_half_range == pytest.approx(5 / 105)
    assert second.within_goal_range is False
    summary = summarise([first, second])
    assert summary.replications == 3
    # the widest spread within the goals' range only (the second level is above 85% CPU)
    assert summary.widest_spread == {
        "throughput_rps": pytest.approx(5 / 105),
        "mean_ms": pytest.approx(0.2),
    }
    # One run: a spread of zero.
    (single,) = compare(prediction.levels[:1], aggregate_replications(runs[:1])[:1], 0.8)
    assert single.replications == 1
    assert single.spread["throughput_rps"].relative_half_range == 0.0


def test_the_document_writes_a_level_with_every_replication(profile: Profile) -> None:
    runs = [[one_run(10, 100.0, 4.0)], [one_run(10, 110.0, 5.0, loadgen=0.85)]]
    prediction = predict(validation_profile(profile, 0.1), [10], servers=1)
    (level,) = compare(prediction.levels, aggregate_replications(runs), loadgen_warning=0.8)
    data = level.to_json()
    assert set(data["predicted"]) == set(COMPARED)
    assert set(data["measured"]) == {*COMPARED, "requests", "speed_reference_ms"}
    assert data["loadgen_cpu"] == 0.85 and data["replications"] == 2
    assert data["spread"]["mean_ms"] == {"min": 4.0, "max": 5.0, "relative_half_range": 0.1111}
    assert [r["replication"] for r in data["per_replication"]] == [1, 2]
    assert [r["loadgen_cpu"] for r in data["per_replication"]] == [0.3, 0.85]
    # ... and reads it back the same (what the run report does with validation.json).
    again = ComparedLevel.from_json(data)
    assert again.to_json() == data


def test_the_saturation_check_says_saturated_only_when_the_cpu_does() -> None:
    def level(users: int, cpu: float) -> ComparedLevel:
        (compared,) = compare(
            [level_prediction(users, throughput_rps=500.0)],
            aggregate_replications([[one_run(users, 450.0, 9.0, cpu=cpu)]]),
            loadgen_warning=0.8,
        )
        return compared

    check = saturation_check([level(100, 0.5), level(400, 0.99)])
    assert check is not None and check.users == 400 and check.saturated
    assert check.relative_error == pytest.approx(50 / 450)
    low = saturation_check([level(400, 0.90)])
    assert low is not None and not low.saturated  # a lower bound of the capacity, not it
    assert saturation_check([]) is None


def test_the_prediction_at_the_measured_speed_is_compared_beside_the_plain_one(
    profile: Profile,
) -> None:
    prediction = predict(validation_profile(profile, 0.1), [10, 40], servers=1)
    p10, p40 = prediction.levels
    measured = [
        one_run(10, p10.throughput_rps * 0.8, p10.mean_ms, speed_reference_ms=1.25),
        one_run(40, p40.throughput_rps, p40.mean_ms),
    ]
    levels = compare(prediction.levels, aggregate_replications([measured]), 0.8)
    assert levels[0].measured.speed_reference_ms == 1.25
    assert levels[0].meets_goals is False  # 25% too much throughput as predicted
    # The same levels predicted on the machine as it was (here: 20% less throughput).
    moved = [dataclasses.replace(p10, throughput_rps=p10.throughput_rps * 0.8), p40]
    levels = at_measured_speed(levels, moved, curve_reference_ms=1.0)
    block = levels[0].at_measured_speed
    assert block is not None
    assert block.speed_factor == 1.25 and block.speed_reference_ms == 1.25
    assert block.relative_error["throughput_rps"] == pytest.approx(0.0, abs=1e-9)
    assert block.meets_goals is True
    assert levels[1].at_measured_speed is None  # its speed was not measured
    summary = summarise(levels)
    assert summary.goals_met is False
    assert summary.at_measured_speed_worst is None  # not every judged level has one
    summary = summarise(levels[:1])
    assert summary.at_measured_speed_goals_met is True
    assert summary.at_measured_speed_worst == {
        key: None if value is None else pytest.approx(abs(value))
        for key, value in block.relative_error.items()
    }
    # A curve without a speed reference: nothing to add.
    again = at_measured_speed(levels[:1], moved, curve_reference_ms=None)
    assert again[0] is levels[0]
