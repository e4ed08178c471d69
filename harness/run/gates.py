"""Service-level objective gates, k6-style: every objective of the profile, per stage and over
the whole run, each with its target, what was measured and whether it held.

The objectives (``[slo]`` of the profile) and where their measurement comes from::

    api_p50_ms, api_p95_ms   merged HDR histograms of the API requests (PAGE samples excluded)
    page_p95_ms              merged HDR histograms of the PAGE samples only
    error_rate               failed API requests / API requests
    availability             the /health probe (harness.run.probe), once a second

A stage without API requests (a zero-user hour of the day-one curve) has nothing to gate and
gets no entries; the overall gate always exists, and a run without any request fails it
(``measured`` null), since "nothing measured" must never read as "passed".

:class:`BreachWatch` is the live half, for ``--abort-on-breach``: a breach sustained for the
profile's ``gates.abort_window_s`` stops the run early.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.profile import Slo
from models.run_records import EndpointResult, RequestFigures, SloResult, StageResult

# (objective name, its measurement in a stage record, True when it must stay *below* target)
OBJECTIVES: tuple[tuple[str, Callable[[RequestFigures], float | None], bool], ...] = (
    ("api_p50_ms", lambda record: record.p50_ms, True),
    ("api_p95_ms", lambda record: record.p95_ms, True),
    ("page_p95_ms", lambda record: record.page_p95_ms, True),
    ("error_rate", lambda record: record.error_rate, True),
    ("availability", lambda record: record.availability, False),
    ("api_p99_ms", lambda record: record.p99_ms, True),
)
#: Objectives of the whole run only: a floor on throughput would fail every ramp-up stage.
OVERALL_ONLY: tuple[tuple[str, Callable[[RequestFigures], float | None], bool], ...] = (
    ("throughput_min_rps", lambda record: record.throughput_rps, False),
)
#: Per-endpoint objectives (``[slo.endpoints."GET /x"]``) and their record fields.
ENDPOINT_OBJECTIVES: tuple[tuple[str, Callable[[EndpointResult], float | None]], ...] = (
    ("p95_ms", lambda e: e.p95_ms),
    ("p99_ms", lambda e: e.p99_ms),
    ("error_rate", lambda e: e.failure_rate),
)


def holds(below: bool, measured: float, target: float) -> bool:
    """Latencies and error rate must stay under their target; availability at or above it."""
    return measured < target if below else measured >= target


def evaluate_record(slo: Slo, record: RequestFigures, stage: str | None) -> list[SloResult]:
    """Gate one stage record (or the overall record when ``stage`` is None)."""
    results = []
    empty = not record.requests
    for name, measure, below in OBJECTIVES + (OVERALL_ONLY if stage is None else ()):
        if getattr(slo, name) is None:
            continue  # an optional objective the profile does not set
        target = float(getattr(slo, name))
        measured = measure(record)
        if empty and name != "availability":
            # No API request at all: the record's 0.0 latencies and error rate are no evidence
            # (summary.figures fills them in), so they must not read as "passed".
            measured = None
        if measured is None:
            if stage is not None:
                continue  # e.g. no PAGE sample in a short stage: nothing to judge there
            # Overall: API requests but no PAGE sample (a locustfile without screens) leave
            # the page objective with nothing to judge; no requests at all fail it below.
            if name == "page_p95_ms" and not empty:
                continue
            if name == "availability":
                continue
            results.append(SloResult(name, target, None, False, None))
            continue
        value = float(measured)
        results.append(SloResult(name, target, round(value, 6), holds(below, value, target), stage))
    return results


def evaluate(
    slo: Slo,
    stages: Sequence[StageResult],
    overall: RequestFigures,
    endpoints: Sequence[EndpointResult] = (),
) -> list[SloResult]:
    """Every objective for every stage that had API requests, then overall, then each
    endpoint's own (``slo.endpoints``)."""
    results: list[SloResult] = []
    for stage in stages:
        if stage.requests > 0:
            results.extend(evaluate_record(slo, stage, stage.name))
    results.extend(evaluate_record(slo, overall, None))
    results.extend(evaluate_endpoints(slo, endpoints))
    return results


def evaluate_endpoints(slo: Slo, endpoints: Sequence[EndpointResult]) -> list[SloResult]:
    """``<figure>[<endpoint>]`` rows (``p95_ms[GET /items/{id}]``), over the whole run; an
    endpoint the run never called fails its objectives with nothing measured."""
    by_name = {e.endpoint: e for e in endpoints}
    results = []
    for endpoint, objectives in sorted(slo.endpoints.items()):
        record = by_name.get(endpoint)
        for figure, measure in ENDPOINT_OBJECTIVES:
            target = getattr(objectives, figure)
            if target is None:
                continue
            name = f"{figure}[{endpoint}]"
            if record is None or not record.requests:
                results.append(SloResult(name, float(target), None, False, None))
                continue
            value = float(measure(record) or 0.0)
            results.append(SloResult(name, float(target), round(value, 6), value < target, None))
    return results


def breached(results: list[SloResult]) -> list[SloResult]:
    return [r for r in results if not r.passed]


@dataclass
class BreachWatch:
    """Detects an objective breached continuously for ``window_s`` in the live time series.

    Fed the time-series records as they arrive (``t_s``, ``p95_ms``, ``error_rate``,
    ``availability``); :meth:`observe` returns a sentence naming the objective once one has been
    breached in every record for at least ``window_s`` seconds, else None. Records without a
    value for an objective (no traffic yet) interrupt nothing and prove nothing.
    """

    slo: Slo
    window_s: float

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError(f"abort window must be positive, got {self.window_s}")
        self._since: dict[str, float] = {}

    def observe(self, record: Mapping[str, Any]) -> str | None:
        t_s = float(record["t_s"])
        checks = (
            ("api_p95_ms", record.get("p95_ms"), True),
            ("error_rate", record.get("error_rate"), True),
            ("availability", record.get("availability"), False),
        )
        for name, value, below in checks:
            if value is None:
                continue
            target = float(getattr(self.slo, name))
            if holds(below, float(value), target):
                self._since.pop(name, None)
                continue
            since = self._since.setdefault(name, t_s)
            if t_s - since >= self.window_s:
                relation = ">=" if below else "<"
                return (
                    f"{name} {float(value):.4g} {relation} target {target:g} continuously for "
                    f"{t_s - since:.0f} s (abort window {self.window_s:g} s)"
                )
        return None
