"""SLO gates and alert rules on synthetic stage records and time series."""

from __future__ import annotations

from typing import Any

import pytest

from harness.run import alerts, gates, summary
from harness.run.probe import ProbeResult
from journeys.hdr import HistogramSet
from models.profile import load_profile
from models.run_records import RequestFigures, StageResult

PROFILE = load_profile()
SLO = PROFILE.slo


def _figures(**overrides: Any) -> RequestFigures:
    values: dict[str, Any] = {
        "requests": 100,
        "failures": 0,
        "p50_ms": 20.0,
        "p95_ms": 90.0,
        "p99_ms": 120.0,
        "mean_ms": 25.0,
        "error_rate": 0.0,
        "page_p95_ms": 200.0,
        "throughput_rps": 1.0,
        "availability": 1.0,
        "p999_ms": 150.0,
    }
    return RequestFigures(**(values | overrides))


def _stage(name: str, **overrides: Any) -> StageResult:
    return StageResult.placed(
        _figures(**overrides),
        index=0,
        name=name,
        users=10,
        duration_s=60.0,
        started_at_s=0.0,
        elapsed_s=60.0,
    )


def test_every_objective_is_gated_per_stage_and_overall() -> None:
    results = gates.evaluate(SLO, [_stage("stage 1"), _stage("stage 2")], _stage("overall"))
    names = {"api_p50_ms", "api_p95_ms", "page_p95_ms", "error_rate", "availability"}
    for stage in ("stage 1", "stage 2", None):
        assert {r.name for r in results if r.stage == stage} == names
    assert all(r.passed for r in results)


@pytest.mark.parametrize(
    ("key", "value", "objective"),
    [
        ("p50_ms", 150.0, "api_p50_ms"),  # at the target is a breach: "p50 < 150 ms"
        ("p95_ms", 801.0, "api_p95_ms"),
        ("page_p95_ms", 1500.5, "page_p95_ms"),
        ("error_rate", 0.02, "error_rate"),
        ("availability", 0.99, "availability"),
    ],
)
def test_a_breach_names_the_objective_and_the_stage(key: str, value: float, objective: str) -> None:
    results = gates.evaluate(
        SLO, [_stage("stage 1"), _stage("stage 2", **{key: value})], _stage("all")
    )
    failed = gates.breached(results)
    assert [(r.name, r.stage, r.measured) for r in failed] == [(objective, "stage 2", value)]


def test_availability_at_target_passes() -> None:
    results = gates.evaluate(SLO, [], _stage("all", availability=0.995))
    assert all(r.passed for r in results)


def test_stages_without_requests_are_not_gated_but_an_empty_run_fails() -> None:
    empty = _stage("stage 1", requests=0, p50_ms=0.0, p95_ms=0.0, error_rate=0.0)
    overall = _figures(
        requests=0, p50_ms=0.0, p95_ms=0.0, error_rate=0.0, page_p95_ms=None, availability=None
    )
    results = gates.evaluate(SLO, [empty], overall)
    assert all(r.stage is None for r in results)
    assert {r.name for r in gates.breached(results)} >= {"api_p50_ms", "api_p95_ms", "error_rate"}


def test_a_run_without_requests_fails_even_with_the_summary_zeros() -> None:
    """summary.figures reports 0.0 latencies and error rate when nothing was measured."""
    overall = summary.overall_record(HistogramSet(), 1, [ProbeResult(0.5, True, 1.0)], 0.0, 10.0)
    assert overall.requests == 0 and overall.p95_ms == 0.0  # what the run would write
    results = gates.evaluate(SLO, [], overall)
    failed = {r.name: r.measured for r in gates.breached(results)}
    assert failed == {"api_p50_ms": None, "api_p95_ms": None, "page_p95_ms": None,
                      "error_rate": None}  # fmt: skip
    assert [r.name for r in results if r.passed] == ["availability"]  # the probe did answer


def test_breach_watch_needs_the_whole_window() -> None:
    watch = gates.BreachWatch(SLO, window_s=30.0)
    assert watch.observe({"t_s": 0.0, "p95_ms": 900.0}) is None
    assert watch.observe({"t_s": 20.0, "p95_ms": 900.0}) is None
    assert watch.observe({"t_s": 29.0, "p95_ms": 100.0}) is None  # recovered: the window restarts
    assert watch.observe({"t_s": 40.0, "p95_ms": 900.0}) is None
    message = watch.observe({"t_s": 70.0, "p95_ms": 950.0})
    assert message is not None and "api_p95_ms" in message and "30 s" in message


def test_breach_watch_on_availability_and_rejects_a_bad_window() -> None:
    watch = gates.BreachWatch(SLO, window_s=2.0)
    watch.observe({"t_s": 1.0, "availability": 0.5})
    assert "availability" in str(watch.observe({"t_s": 3.0, "availability": 0.0}))
    with pytest.raises(ValueError, match="-1"):
        gates.BreachWatch(SLO, window_s=-1)


def test_an_alert_fires_after_for_s_and_resolves() -> None:
    series = {"error_rate": [(float(t), 0.10 if 10 <= t <= 80 else 0.0) for t in range(0, 120, 2)]}
    fired, not_evaluated = alerts.evaluate(PROFILE.alerts, series)
    by_severity = {a.severity: a for a in fired}
    critical = by_severity["critical"]  # error_rate > 5% for 60 s
    assert critical.metric == "error_rate" and critical.fired_at_s == 70.0
    assert critical.value == 0.10 and critical.resolved_at_s == 82.0
    assert by_severity["warning"].fired_at_s == 70.0  # > 2%, same for_s
    assert any("memory" in text for text in not_evaluated)
    assert all("error_rate" not in text for text in not_evaluated)


def test_a_short_breach_does_not_fire() -> None:
    series = {"p95_ms": [(0.0, 3000.0), (30.0, 3000.0), (59.0, 3000.0), (61.0, 100.0)]}
    fired, _ = alerts.evaluate(PROFILE.alerts, series)
    assert fired == []


def test_cpu_and_connections_come_from_scrapes() -> None:
    scrapes = [
        {"t_s": float(t), "cpu_seconds": 0.95 * t, "pool_in_use": 96.0} for t in range(0, 100, 5)
    ]
    series = alerts.metric_series([], scrapes, cores=1.0)
    assert series["cpu"][0][0] == 5.0 and series["cpu"][0][1] == pytest.approx(0.95)
    fired, _ = alerts.evaluate(PROFILE.alerts, series)
    assert {(a.severity, a.metric) for a in fired} == {
        ("critical", "cpu"),
        ("warning", "cpu"),
        ("critical", "db_connections"),
        ("warning", "db_connections"),
    }
    assert min(a.fired_at_s for a in fired if a.metric == "cpu") == 65.0
