"""Comparing a run with a baseline run: a delta on every figure, regressions flagged.

A change is a *regression* when the figure got worse by more than the profile's
``report.regression_threshold`` (10% by default), relative to the baseline:

- latencies (``*_ms``): higher is worse; throughput: lower is worse;
- error rates: higher is worse, and the increase must also exceed 0.1 percentage point, so that
  0.01% becoming 0.02% (a doubling of almost nothing) is not a regression;
- availability: compared as unavailability (``1 - availability``) with the same rule.

Stages are matched by position and endpoints by name; a figure missing on either side gets no
delta and is never a regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports import formatting as fmt
from reports.records import Run

RATIO_FLOOR = 0.001
"""Smallest absolute worsening of an error rate (0.1 percentage point) that can regress."""

STAGE_METRICS = (
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "error_rate",
    "page_p95_ms",
    "availability",
)
ENDPOINT_METRICS = ("p50_ms", "p95_ms", "p99_ms", "failure_rate")
_HIGHER_IS_BETTER = {"throughput_rps", "availability"}
_RATIOS = {"error_rate", "failure_rate", "availability"}

_LABELS = {
    "throughput_rps": "throughput",
    "p50_ms": "p50",
    "p95_ms": "p95",
    "p99_ms": "p99",
    "error_rate": "error rate",
    "failure_rate": "failure rate",
    "page_p95_ms": "page p95",
    "availability": "availability",
}


@dataclass(frozen=True, slots=True)
class Delta:
    """One figure, now and in the baseline."""

    metric: str
    new: float | None
    old: float | None
    change: float | None
    """Relative change ``(new - old) / old``; ``None`` when it cannot be computed."""
    regression: bool

    @property
    def text(self) -> str:
        return fmt.signed_pct(self.change)

    @property
    def worse(self) -> bool:
        """Moved in the bad direction at all (the page colours it even below the threshold)."""
        if self.change is None or abs(self.change) < 0.0005:
            return False
        return (self.change < 0) if self.metric in _HIGHER_IS_BETTER else (self.change > 0)


def delta(metric: str, new: float | None, old: float | None, threshold: float) -> Delta:
    """The change of ``metric`` from ``old`` to ``new`` and whether it is a regression."""
    change = fmt.relative_change(new, old)
    regression = False
    if new is not None and old is not None:
        if metric == "availability":
            bad_new, bad_old = 1 - new, 1 - old
            regression = bad_new - bad_old > max(RATIO_FLOOR, threshold * bad_old)
        elif metric in _RATIOS:
            regression = new - old > max(RATIO_FLOOR, threshold * old)
        elif metric in _HIGHER_IS_BETTER:
            regression = change is not None and change < -threshold
        else:
            regression = change is not None and change > threshold
    return Delta(metric, new, old, change, regression)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every delta between a run and its baseline, keyed the way the templates look them up."""

    baseline_id: str
    threshold: float
    stages: dict[tuple[int, str], Delta] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], Delta] = field(default_factory=dict)
    slo: dict[tuple[str, str], Delta] = field(default_factory=dict)
    regressions: list[str] = field(default_factory=list)
    """One sentence per regression, most important (largest relative change) first."""


def compare(run: Run, baseline: Run, threshold: float, baseline_id: str) -> Comparison:
    """Deltas of ``run`` against ``baseline`` for stages, endpoints and SLO measurements."""
    result = Comparison(baseline_id=baseline_id, threshold=threshold)
    ranked: list[tuple[float, str]] = []
    for new_stage, old_stage in zip(run.stages, baseline.stages, strict=False):
        for metric in STAGE_METRICS:
            d = delta(metric, getattr(new_stage, metric), getattr(old_stage, metric), threshold)
            result.stages[(new_stage.index, metric)] = d
            if d.regression:
                ranked.append(
                    (
                        abs(d.change or 0),
                        _sentence(f"stage {new_stage.index + 1} ({new_stage.users:,} users)", d),
                    )
                )
    old_endpoints = {e.endpoint: e for e in baseline.endpoints}
    for endpoint in run.endpoints:
        old = old_endpoints.get(endpoint.endpoint)
        if old is None:
            continue
        for metric in ENDPOINT_METRICS:
            d = delta(metric, getattr(endpoint, metric), getattr(old, metric), threshold)
            result.endpoints[(endpoint.endpoint, metric)] = d
            if d.regression:
                ranked.append((abs(d.change or 0), _sentence(endpoint.endpoint, d)))
    old_slo = {(s.name, str(s.stage)): s for s in baseline.slo}
    for slo in run.slo:
        key = (slo.name, str(slo.stage))
        if key in old_slo:
            metric = (
                "availability"
                if slo.name == "availability"
                else ("error_rate" if slo.name == "error_rate" else "p95_ms")
            )
            d = delta(metric, slo.measured, old_slo[key].measured, threshold)
            result.slo[key] = Delta(slo.name, d.new, d.old, d.change, d.regression)
    ranked.sort(key=lambda item: -item[0])
    result.regressions.extend(text for _, text in ranked)
    return result


def _sentence(where: str, d: Delta) -> str:
    label = _LABELS.get(d.metric, d.metric)
    return (
        f"{where}: {label} {fmt.metric(d.new, d.metric)} vs {fmt.metric(d.old, d.metric)} "
        f"in the baseline ({d.text})"
    )
