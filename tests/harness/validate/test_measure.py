"""What a validation run measured: CPU windows, measure stages, replications, their noise."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.validate.compare import LevelExpectations, compare
from harness.validate.measure import (
    ReplicatedLevel,
    aggregate_replications,
    measured_levels,
    needs_replication,
    noisy_levels,
    stage_cpu,
    window_mean,
)
from models.validation_records import ComparedLevel, MeasuredLevel, Spread
from tests.harness.validate.helpers import level_prediction, one_run


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


def run_json(levels: list[tuple[int, float, float]]) -> dict[str, Any]:
    """A paired step run's run.json: a settle and a measure stage of 10 s per level."""
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
    first, second = measured_levels(run, scrapes, series)
    assert (first.users, second.users) == (10, 40)
    assert second.throughput_rps == 70.0 and second.requests == 700
    assert first.cpu_utilization == pytest.approx(0.25)
    assert first.loadgen_cpu == pytest.approx(0.3)


def test_a_window_s_cpu_comes_from_the_kernel_s_samples_when_two_fall_inside() -> None:
    run = run_json([(10, 20.0, 30.0), (40, 70.0, 60.0)])  # measured: 10-20 s and 30-40 s
    scrapes = [{"t_s": float(t), "cpu_seconds": 0.25 * t} for t in range(0, 41, 2)]
    # The kernel's count: 0.5 cores over the first window, then no sample in the second
    # (as if the sampler had stopped): that window falls back to the scrapes' 0.25.
    samples = [(t / 2, 0.5 * t / 2) for t in range(0, 41)]
    first, second = measured_levels(run, scrapes, [], cpu_samples=samples)
    assert first.cpu_utilization == pytest.approx(0.5)
    assert second.cpu_utilization == pytest.approx(0.25)
    # A saturated service answered one scrape in the window: the kernel's samples still say.
    late = [s for s in scrapes if not 12 <= s["t_s"] <= 20]
    assert measured_levels(run, late, [])[0].cpu_utilization is None
    assert measured_levels(run, late, [], cpu_samples=samples)[0].cpu_utilization == 0.5
    # a worker that ended unreaped inside the window takes its CPU out of the sum: never < 0
    dropped = [(10.0, 5.0), (20.0, 3.0)]
    assert measured_levels(run, late, [], cpu_samples=dropped)[0].cpu_utilization == 0.0


def test_each_level_carries_the_machine_speed_measured_over_its_window() -> None:
    run = run_json([(10, 20.0, 30.0), (40, 70.0, 60.0)])  # measured: 10-20 s and 30-40 s
    scrapes = [{"t_s": float(t), "cpu_seconds": 0.25 * t} for t in range(0, 41, 2)]
    samples = [(t / 2, 1.0 if t < 60 else 2.0) for t in range(0, 81)]  # slower from 30 s
    first, second = measured_levels(run, scrapes, [], samples)
    assert first.speed_reference_ms == pytest.approx(1.0)
    assert second.speed_reference_ms == pytest.approx(2.0)
    assert measured_levels(run, scrapes, [])[0].speed_reference_ms is None  # not measured
    # Over replications: the mean, as every measured figure; kept per replication too.
    (level,) = aggregate_replications(
        [[one_run(10, 100.0, 5.0, speed_reference_ms=s)] for s in (1.0, 1.4)]
    )
    assert level.mean.speed_reference_ms == pytest.approx(1.2)
    assert [r.speed_reference_ms for r in level.runs] == [1.0, 1.4]


def test_spread_is_the_range_and_its_half_over_the_mean() -> None:
    spread = Spread.of([100.0, 110.0, 105.0])
    assert (spread.min, spread.max) == (100.0, 110.0)
    assert spread.relative_half_range == pytest.approx(5 / 105)
    assert Spread.of([3.0]).relative_half_range == 0.0
    assert Spread.of([0.0, 0.0]).relative_half_range is None  # no mean to be relative to
    with pytest.raises(ValueError, match="values must hold at least one value"):
        Spread.of([])


def test_replications_are_aggregated_on_their_mean_with_the_spread() -> None:
    runs = [
        [one_run(10, 100.0, 4.0), one_run(40, 380.0, 6.0, cpu=0.9)],
        [one_run(10, 110.0, 5.0, loadgen=0.85), one_run(40, 400.0, 6.0, cpu=0.95)],
        [one_run(10, 105.0, 6.0)],  # this run was cut short before its second level
    ]
    low, high = aggregate_replications(runs)
    assert low.users == 10 and len(low.runs) == 3
    assert low.mean.throughput_rps == pytest.approx(105.0)
    assert low.mean.mean_ms == pytest.approx(5.0)
    assert low.mean.requests == 1050
    assert low.mean.loadgen_cpu == 0.85  # one overloaded load generator taints the mean
    mean = low.spread["mean_ms"]
    assert (mean.min, mean.max) == (4.0, 6.0)
    assert mean.relative_half_range == pytest.approx(0.2)
    assert [r.throughput_rps for r in low.runs] == [100.0, 110.0, 105.0]
    assert len(high.runs) == 2 and high.mean.cpu_utilization == pytest.approx(0.925)


def compared(levels: list[ReplicatedLevel], predicted_cpu: float = 0.5) -> list[ComparedLevel]:
    """``levels`` compared with a prediction that matches their first run exactly."""
    expected = {
        level.users: LevelExpectations(
            level_prediction(
                level.users,
                cpu_utilization=predicted_cpu,
                mean_ms=level.runs[0].mean_ms or 0.0,
            ),
            None,
            "plain",
            {},
        )
        for level in levels
    }
    return compare(expected, levels, loadgen_warning=0.8)


def twice(
    first: MeasuredLevel, second: MeasuredLevel, predicted_cpu: float = 0.5
) -> list[ComparedLevel]:
    return compared(aggregate_replications([[first], [second]]), predicted_cpu)


def test_another_replication_while_the_noise_is_half_the_goals() -> None:
    def needed(levels: list[ComparedLevel], done: int, fraction: float = 0.5) -> bool:
        return needs_replication(levels, done, min_runs=2, max_runs=4, spread_fraction=fraction)

    # CPU ±4.8% and mean ±4.8%: under half their goals (5% and 7.5%), enough.
    quiet = twice(one_run(10, 100.0, 5.0, cpu=0.50), one_run(10, 110.0, 5.5, cpu=0.55))
    assert noisy_levels(quiet, 0.5) == []
    assert needed(quiet, 1)  # the minimum is always run
    assert not needed(quiet, 2)
    # CPU ±5.7%: above half its goal, though within the goal itself.
    cpu = twice(one_run(10, 100.0, 5.0, cpu=0.50), one_run(10, 100.0, 5.0, cpu=0.56))
    ((users, metric, half),) = noisy_levels(cpu, 0.5)
    assert (users, metric) == (10, "cpu_utilization") and half == pytest.approx(0.03 / 0.53)
    assert needed(cpu, 2) and needed(cpu, 3)
    assert not needed(cpu, 4)  # never past the maximum
    # Mean response time ±10.7%: above half of its 15% goal.
    mean = twice(one_run(10, 100.0, 5.0), one_run(10, 100.0, 6.2))
    ((users, metric, half),) = noisy_levels(mean, 0.5)
    assert (users, metric) == (10, "mean_ms") and half == pytest.approx(0.6 / 5.6)
    # Throughput's noise does not count: in a closed loop it is the think time's.
    throughput = twice(one_run(10, 100.0, 5.0), one_run(10, 130.0, 5.0))
    assert not needed(throughput, 2)
    # p95's noise does not count (it goes from 15 to 30 ms here, all else the same).
    base = one_run(10, 100.0, 5.0)
    assert not needed(twice(base, dataclasses.replace(base, p95_ms=30.0)), 2)
    # Where the model predicts over 85% CPU the goals do not judge, and neither does their noise.
    saturated = twice(one_run(10, 100.0, 5.0), one_run(10, 150.0, 9.0), predicted_cpu=0.95)
    assert not needed(saturated, 2)
    # The threshold is a fraction of the goals: at the full goal, ±5.7% is quiet enough.
    assert not needed(cpu, 2, fraction=1.0)
