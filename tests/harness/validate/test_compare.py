"""Prediction against measurement: relative errors, levels judged by predicted CPU, the naive
baseline beside the model, the other fit, the capacity, and the misses in words."""

from __future__ import annotations

from typing import Any

import pytest

from harness.validate.compare import (
    LevelExpectations,
    compare,
    relative_error,
    saturation_check,
    summarise,
)
from harness.validate.measure import aggregate_replications
from models.validation_records import COMPARED, ComparedLevel, MeasuredLevel
from tests.harness.validate.helpers import level_prediction, one_run


def expect(
    users: int,
    cpu: float,
    mean_ms: float,
    p95_ms: float,
    rps: float = 100.0,
    other_cpu: float | None = None,
) -> tuple[int, LevelExpectations]:
    """What was expected of a level: the judged prediction, maybe the other fit, a baseline
    that predicts 20% too much CPU and half the latency."""
    prediction = level_prediction(
        users, throughput_rps=rps, cpu_utilization=cpu, mean_ms=mean_ms, p95_ms=p95_ms
    )
    other = None
    if other_cpu is not None:
        other = level_prediction(
            users, throughput_rps=rps, cpu_utilization=other_cpu, mean_ms=mean_ms, p95_ms=p95_ms
        )
    baseline = {
        "throughput_rps": rps * 1.01, "cpu_utilization": cpu * 1.2, "mean_ms": mean_ms / 2,
        "p50_ms": mean_ms / 2, "p95_ms": p95_ms / 2, "error_rate": 0.0,
    }  # fmt: skip
    return users, LevelExpectations(prediction, other, "speed-normalised", baseline)


def measured(users: int, cpu: float, mean_ms: float, p95_ms: float) -> MeasuredLevel:
    return MeasuredLevel(
        users=users, throughput_rps=100.0, mean_ms=mean_ms, p50_ms=mean_ms, p95_ms=p95_ms,
        cpu_utilization=cpu, error_rate=0.0, requests=1000, loadgen_cpu=0.3,
    )  # fmt: skip


def test_relative_error() -> None:
    assert relative_error(110.0, 100.0) == pytest.approx(0.10)
    assert relative_error(90.0, 100.0) == pytest.approx(-0.10)
    assert relative_error(1.0, 0.0) is None
    assert relative_error(None, 1.0) is None


def test_levels_are_judged_by_the_cpu_the_model_predicted() -> None:
    expected = dict(
        [
            expect(10, cpu=0.30, mean_ms=5.0, p95_ms=10.0, other_cpu=0.33),
            expect(40, cpu=0.80, mean_ms=8.0, p95_ms=16.0),  # measured at 97%: stays judged
            expect(60, cpu=0.92, mean_ms=20.0, p95_ms=40.0),  # predicted over 85%: shown only
        ]
    )
    runs = [
        [
            measured(10, cpu=0.31, mean_ms=5.5, p95_ms=11.0),
            measured(40, cpu=0.97, mean_ms=30.0, p95_ms=90.0),
            measured(60, cpu=0.99, mean_ms=60.0, p95_ms=150.0),
        ]
    ]
    low, under, high = compare(expected, aggregate_replications(runs), loadgen_warning=0.8)
    assert low.judged and low.meets_goals is True
    assert low.relative_error["cpu_utilization"] == pytest.approx(0.30 / 0.31 - 1)
    assert low.relative_error["mean_ms"] == pytest.approx(5.0 / 5.5 - 1)
    assert low.relative_error["error_rate"] is None  # predicted 0: no relative error
    # The baseline's errors beside the model's: 20% too much CPU, half the latency.
    assert low.baseline_error["cpu_utilization"] == pytest.approx(0.36 / 0.31 - 1)
    assert low.baseline_error["mean_ms"] == pytest.approx(2.5 / 5.5 - 1)
    # The other fit is shown beside the judged one, with its own errors.
    assert low.alternative is not None and low.alternative.fit == "speed-normalised"
    assert low.alternative.relative_error["cpu_utilization"] == pytest.approx(0.33 / 0.31 - 1)
    # A model that predicts too little CPU cannot escape its miss.
    assert under.judged and under.meets_goals is False
    assert high.judged is False and high.meets_goals is None
    assert high.excluded_because == "predicted CPU 92% is above the goals' 85%"
    summary = summarise([low, under, high], None)
    assert summary.levels_judged == 2 and summary.goals_met is False
    assert summary.worst_abs_relative_error["cpu_utilization"] == pytest.approx(0.17 / 0.97)
    assert summary.baseline_worst_abs_relative_error["mean_ms"] == pytest.approx(26 / 30)
    assert summary.misses == (
        "40 users: cpu_utilization -17.5% (goal ±10%)",
        "40 users: mean_ms -73.3% (goal ±15%)",
        "40 users: p95_ms -82.2% (goal ±25%)",
    )
    assert summarise([low], None).goals_met is True and summarise([low], None).misses == ()
    assert summarise([high], None).misses == (
        "no level was judged (every one excluded; see excluded_because)",
    )


def test_an_overloaded_load_generator_excludes_its_level() -> None:
    expected = dict([expect(10, cpu=0.3, mean_ms=5.0, p95_ms=10.0)])
    runs = [[one_run(10, 100.0, 5.0, cpu=0.3, loadgen=0.95)]]
    (level,) = compare(expected, aggregate_replications(runs), loadgen_warning=0.8)
    assert not level.loadgen_trustworthy and not level.judged
    assert level.excluded_because is not None and "load generator" in level.excluded_because


def test_replications_are_compared_on_their_mean_with_the_spread() -> None:
    expected = dict([expect(10, cpu=0.5, mean_ms=5.0, p95_ms=15.0)])
    runs = [[one_run(10, 100.0, 4.0)], [one_run(10, 110.0, 5.0)], [one_run(10, 105.0, 6.0)]]
    (level,) = compare(expected, aggregate_replications(runs), loadgen_warning=0.8)
    assert level.measured.mean_ms == pytest.approx(5.0)  # against the mean, not one run
    assert level.relative_error["mean_ms"] == pytest.approx(0.0)
    assert level.replications == 3 and len(level.per_replication) == 3
    assert level.spread["mean_ms"].relative_half_range == pytest.approx(0.2)
    summary = summarise([level], None)
    assert summary.replications == 3
    assert summary.widest_spread == {"cpu_utilization": 0.0, "mean_ms": pytest.approx(0.2)}


def test_the_document_writes_and_reads_a_level_back() -> None:
    expected = dict([expect(10, cpu=0.5, mean_ms=4.0, p95_ms=12.0, other_cpu=0.55)])
    runs = [[one_run(10, 100.0, 4.0)], [one_run(10, 110.0, 5.0, loadgen=0.85)]]
    (level,) = compare(expected, aggregate_replications(runs), loadgen_warning=0.9)
    data = level.to_json()
    assert set(data["predicted"]) == set(COMPARED) == set(data["baseline"])
    assert set(data["measured"]) == {*COMPARED, "requests", "speed_reference_ms"}
    assert data["loadgen_cpu"] == 0.85 and data["replications"] == 2
    assert data["spread"]["mean_ms"] == {"min": 4.0, "max": 5.0, "relative_half_range": 0.1111}
    assert [r["loadgen_cpu"] for r in data["per_replication"]] == [0.3, 0.85]
    assert ComparedLevel.from_json(data).to_json() == data  # what the run report reads


def saturated_level(
    users: int, predicted_rps: float, rps: float, cpu: float, **measured: Any
) -> ComparedLevel:
    (level,) = compare(
        dict([expect(users, cpu=1.0, mean_ms=50.0, p95_ms=90.0, rps=predicted_rps)]),
        aggregate_replications([[one_run(users, rps, 40.0, cpu=cpu, **measured)]]),
        loadgen_warning=0.8,
    )
    return level


def test_the_capacity_is_judged_where_the_service_saturated() -> None:
    levels = [
        saturated_level(100, 150.0, 151.0, 0.5),  # not saturated: not part of the capacity
        saturated_level(300, 540.0, 500.0, 0.98),
        saturated_level(400, 540.0, 520.0, 0.99),
    ]
    check = saturation_check(levels, baseline_capacity_rps=300.0)
    assert check.judged and check.users == (300, 400)
    assert check.measured_rps == pytest.approx(510.0) and check.predicted_rps == 540.0
    assert check.relative_error == pytest.approx(30 / 510)
    assert check.meets_goal is True
    assert check.baseline_error == pytest.approx(300 / 510 - 1)  # the naive capacity
    summary = summarise(levels, check)
    assert "saturation_rps" in summary.goals and not any("saturation" in m for m in summary.misses)
    far = saturation_check([saturated_level(300, 700.0, 500.0, 0.99)], None)
    assert far.meets_goal is False
    assert any(
        m.startswith("saturation: predicted 700 req/s, measured 500 req/s (+40.0%")
        for m in summarise([], far).misses
    )


def test_a_top_level_without_a_cpu_figure_says_so_rather_than_zero() -> None:
    (level,) = compare(
        dict([expect(900, cpu=1.0, mean_ms=50.0, p95_ms=90.0, rps=1100.0)]),
        aggregate_replications([[one_run(900, 950.0, 400.0, cpu=None)]]),
        loadgen_warning=0.8,
    )
    check = saturation_check([level], None)
    assert not check.judged and check.reason is not None
    assert "900 users, CPU not measured: fewer than two metric scrapes" in check.reason
    assert "CPU 0%" not in check.reason


def test_a_service_that_never_saturated_leaves_the_capacity_unjudged() -> None:
    check = saturation_check([saturated_level(300, 540.0, 500.0, 0.90)], None)
    assert not check.judged and check.meets_goal is None
    assert (
        check.reason is not None and "never saturated (highest: 300 users, CPU 90%)" in check.reason
    )
    assert any(
        m.startswith("saturation: the service never saturated") for m in summarise([], check).misses
    )
