"""The verdict: ready or not ready for the profile's launch, and why, readable in five seconds.

Reasons come in three severities. Any ``fail`` makes the verdict "not ready"; ``warn`` is worth
reading but does not block; ``info`` states what held (so a "ready" has reasons too). The
order is the order a manager should read them in: can the figures be trusted at all
(completeness, load generator, data integrity), then the objectives, then capacity, then
regressions against the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from models.profile import Profile
from reports import formatting as fmt
from reports.baseline import Comparison
from reports.capacity import CapacityPlan
from reports.records import Run, SloResult

__all__ = ["SLO_LABELS", "Reason", "Severity", "Verdict", "decide", "slo_label"]

Severity = Literal["fail", "warn", "info"]

SLO_LABELS = {
    "api_p50_ms": "API p50",
    "api_p95_ms": "API p95",
    "page_p95_ms": "page p95",
    "error_rate": "error rate",
    "availability": "availability",
    "api_p99_ms": "API p99",
    "throughput_min_rps": "throughput",
    "chaos_error_rate": "errors during the fault",
    "chaos_recovery_s": "recovery after the fault",
    "outbox_pending": "notifications undelivered",
    "payments_pending": "payment holds unsettled",
    "run_marked_incomplete": "lost load generator reported",
}


ENDPOINT_FIGURES = {"p95_ms": "p95", "p99_ms": "p99", "error_rate": "error rate"}


@dataclass(frozen=True, slots=True)
class Reason:
    severity: Severity
    text: str


@dataclass(frozen=True, slots=True)
class Verdict:
    ready: bool
    headline: str
    reasons: tuple[Reason, ...]

    @property
    def top(self) -> tuple[Reason, ...]:
        """The reasons shown in the verdict box: every failure, then up to three others."""
        fails = tuple(r for r in self.reasons if r.severity == "fail")
        rest = tuple(r for r in self.reasons if r.severity != "fail")
        return fails + rest[:3]


def slo_label(name: str) -> str:
    figure, _, endpoint = name.partition("[")
    if endpoint:  # an endpoint's own objective: "GET /items/{id} p95"
        return f"{endpoint.removesuffix(']')} {ENDPOINT_FIGURES.get(figure, figure)}"
    return SLO_LABELS.get(name, name.replace("_", " "))


def _slo_reasons(run: Run) -> list[Reason]:
    """One reason per failed objective: the overall figure and where it first broke."""
    failed: dict[str, list[SloResult]] = {}
    for slo in run.slo:
        if not slo.passed and slo.judged:
            failed.setdefault(slo.name, []).append(slo)
    reasons = []
    for name, results in failed.items():
        overall = next((s for s in results if s.stage is None), None)
        staged = [(run.stage_named(s.stage), s) for s in results if s.stage is not None]
        staged = [(stage, s) for stage, s in staged if stage is not None]
        target = fmt.objective(name, results[0].target)
        text = f"{slo_label(name)} missed its objective ({target})"
        if staged:
            stage, first = min(staged, key=lambda pair: pair[0].users if pair[0] else 0)
            assert stage is not None
            text += (
                f": first at {stage.users:,} users (stage {stage.index + 1}), "
                f"{fmt.metric(first.measured, name)}"
            )
        if overall is not None:
            text += f"{'; ' if staged else ': '}{fmt.metric(overall.measured, name)} overall"
        reasons.append(Reason("fail", text))
    return reasons


def _reconciliation_reason(run: Run) -> Reason | None:
    """Counts that disagree fail the run; counts that could not be compared (the service's
    metrics were not readable: ``unavailable`` names why) are a warning, never "0 vs 0"."""
    recon = run.server_vs_client
    if recon.match:
        return None
    unavailable = recon.unavailable
    if unavailable:
        return Reason(
            "warn",
            f"Client and server request counts could not be compared ({unavailable}): "
            "requests the service never saw would go unnoticed",
        )
    return Reason(
        "fail",
        f"Client and server request counts disagree (load generator "
        f"{fmt.count(recon.client_total)}, service {fmt.count(recon.server_total)})",
    )


def _run_failures(run: Run) -> list[Reason]:
    """Whether the run's figures can be trusted at all, then the objectives it missed."""
    reasons: list[Reason] = []
    if not run.complete:
        why = "; ".join(run.incomplete_reasons) or "no reason recorded"
        reasons.append(
            Reason(
                "fail",
                f"The run is incomplete ({why}): its figures are a lower bound, not a measurement",
            )
        )
    if run.loadgen_unreliable:
        reasons.append(
            Reason(
                "fail",
                f"The load generator ran at {fmt.pct(run.load_generator.cpu_max)} "
                "CPU: its latency figures are unreliable",
            )
        )
    lost, unexpected = run.integrity.lost, run.integrity.unexpected
    if lost or unexpected:
        reasons.append(
            Reason(
                "fail",
                f"Integrity audit: {lost:,} acknowledged writes lost, {unexpected:,} unexpected",
            )
        )
    reconciliation = _reconciliation_reason(run)
    if reconciliation is not None:
        reasons.append(reconciliation)
    return reasons + _slo_reasons(run)


def _regression_reason(comparison: Comparison | None) -> list[Reason]:
    if comparison is None or not comparison.regressions:
        return []
    count = len(comparison.regressions)
    return [
        Reason(
            "fail",
            f"{count} regression{'s' if count > 1 else ''} beyond "
            f"{fmt.pct(comparison.threshold)} against the baseline "
            f"{comparison.baseline_id}; worst: "
            f"{comparison.regressions[0]}",
        )
    ]


def _alert_reason(run: Run | None) -> list[Reason]:
    critical = [a for a in run.alerts if a.severity == "critical"] if run is not None else []
    if not critical:
        return []
    first = min(critical, key=lambda a: a.fired_at_s)
    return [
        Reason(
            "warn",
            f"{len(critical)} critical alert(s) fired; the first, "
            f"{first.metric} {first.op} {first.threshold:g}, at "
            f"{fmt.seconds(first.fired_at_s)}",
        )
    ]


def decide(
    run: Run | None,
    profile: Profile,
    capacity: CapacityPlan | None = None,
    comparison: Comparison | None = None,
    extra: Sequence[Reason] = (),
    *,
    model_evidence: Sequence[Reason] = (),
    qualifier: str | None = None,
) -> Verdict:
    """Weigh the run, the capacity plan and the baseline comparison into one verdict.

    ``model_evidence`` (what a validation of the plan's model found) is read first;
    ``qualifier`` is added to a "Ready" the model cannot fully back, so that it is never a
    plain one.
    """
    reasons = list(model_evidence)
    reasons.extend(_run_failures(run) if run is not None else [])
    if capacity is not None:
        reasons.extend(Reason("fail", p[0].upper() + p[1:]) for p in capacity.problems())
    reasons.extend(_regression_reason(comparison))
    reasons.extend(extra)
    reasons.extend(_alert_reason(run))
    ready = not any(r.severity == "fail" for r in reasons)
    reasons.extend(_positives(run, capacity, ready))
    launch = (
        f"{profile.name} ({profile.population.users:,} users, "
        f"{profile.peak_concurrent():,.0f} concurrent at peak)"
    )
    headline = f"{'Ready' if ready else 'Not ready'} for {launch}"
    if ready and qualifier:
        headline += f", {qualifier}"
    return Verdict(ready, headline, tuple(reasons))


def _positives(run: Run | None, capacity: CapacityPlan | None, ready: bool) -> list[Reason]:
    """What held: the objectives (when the run is ready), then what the plan states."""
    out = []
    if run is not None and ready and run.slo:
        top = max((s.users for s in run.stages), default=0)
        names = {s.name for s in run.slo}
        out.append(Reason("info", f"All {len(names)} objectives held up to {top:,} users"))
    if capacity is not None:
        out.extend(Reason("info", text) for text in capacity.reasons())
    return out
