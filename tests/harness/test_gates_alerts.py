"""SLO gates and alert rules on synthetic stage records and time series."""

from __future__ import annotations

from typing import Any

import pytest

from harness.run import alerts, gates, summary
from harness.run.probe import ProbeResult
from journeys.hdr import HistogramSet
from models.profile import EndpointSlo, load_profile
from models.run_records import EndpointResult, RequestFigures, StageResult

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


def _endpoint(name: str, p95: float, p99: float, failure_rate: float) -> EndpointResult:
    method, _, path = name.partition(" ")
    return EndpointResult(name, method, path, 100, round(100 * failure_rate), 0, failure_rate,
                          10.0, 5.0, 20.0, p95, p99, 300.0, p99 * 1.2)  # fmt: skip


def test_p99_throughput_floor_and_endpoint_objectives() -> None:
    slo = SLO.model_copy(
        update={
            "api_p99_ms": 100.0,
            "throughput_min_rps": 2.0,
            "endpoints": {
                "GET /a": EndpointSlo(p95_ms=50.0, error_rate=0.01),
                "GET /never": EndpointSlo(p99_ms=10.0),
            },
        }
    )
    rows = gates.evaluate(
        slo,
        [_stage("s1", p99_ms=150.0)],
        _figures(p99_ms=90.0, throughput_rps=1.5),
        [_endpoint("GET /a", p95=60.0, p99=80.0, failure_rate=0.0)],
    )
    verdict = {(r.name, r.stage): r.passed for r in rows}
    assert verdict[("api_p99_ms", "s1")] is False and verdict[("api_p99_ms", None)] is True
    assert ("throughput_min_rps", "s1") not in verdict  # a floor on the whole run only
    assert verdict[("throughput_min_rps", None)] is False  # 1.5 req/s under the 2.0 floor
    assert verdict[("p95_ms[GET /a]", None)] is False
    assert verdict[("error_rate[GET /a]", None)] is True
    never = next(r for r in rows if r.name == "p99_ms[GET /never]")
    assert never.measured is None and not never.passed  # never called: nothing measured fails


def test_junit_has_one_case_per_objective_per_stage_and_fails_the_breaches() -> None:
    import xml.etree.ElementTree as ET

    from harness.run.junit import junit_xml
    from models.run_records import (
        IntegrityAudit,
        LoadGenerator,
        PersonaMix,
        Run,
        ServerVsClient,
        SloResult,
        Target,
    )

    slo = (
        SloResult("api_p95_ms", 500.0, 650.0, False, "s1"),
        SloResult("api_p95_ms", 500.0, 420.0, True, None),
        SloResult("error_rate", 0.01, 0.5, False, None, judged=False),
    )
    run = Run("load", "2026-12-06T00:00:00Z", "2026-12-06T00:01:00Z", False, ("a worker died",),
              Target("http://h", None, "external", False), LoadGenerator(0, 1, 1.0, 0.1, False),
              (), (), PersonaMix({}, {}), slo, (), IntegrityAudit(0, 0, 0, 0, checked=False),
              ServerVsClient(0, 0, match=False), 3, skipped={"model": "why"})  # fmt: skip
    suite = ET.fromstring(junit_xml(run)).find("testsuite")  # noqa: S314  # our own text
    assert suite is not None
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert cases[("load.s1", "api_p95_ms")].find("failure") is not None
    assert cases[("load.overall", "api_p95_ms")].find("failure") is None
    assert cases[("load.overall", "error_rate")].find("skipped") is not None
    failed = cases[("load.run", "complete")].find("failure")
    assert failed is not None and "a worker died" in str(failed.get("message"))
    assert cases[("load.skipped", "model")].find("skipped") is not None
    counts = (suite.get("tests"), suite.get("failures"), suite.get("skipped"))
    assert counts == ("5", "2", "2")
