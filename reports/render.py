"""The run report: from a run directory (and optionally a baseline) to one HTML file.

    load.load_run(dir) ──> RunArtifacts ──┬─> capacity.plan      (capacity section)
                                          ├─> figures.*           (inline SVG charts)
                                          ├─> baseline.compare    (deltas, regressions)
                                          └─> verdict.decide      (ready or not, and why)
                                                        │
                               templates/report.html.j2 <┘  ──> report.html

The file is self-contained: CSS inline, charts inline SVG, no scripts, no fonts, and a
Content-Security-Policy that forbids the browser to fetch anything, so it opens offline and
from an e-mail attachment exactly as it rendered here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.validation_records import ComparedLevel
from reports import figures
from reports import formatting as fmt
from reports.baseline import Comparison, compare
from reports.capacity import plan
from reports.environment import render_to_file, this_machine
from reports.load import load_run
from reports.method import profile_assumptions
from reports.records import (
    EndpointResult,
    Prediction,
    Run,
    RunArtifacts,
    SloResult,
    StageResult,
)
from reports.verdict import Reason, decide, slo_label

PREDICTION_WARN = 0.25
"""A prediction more than 25% off the measurement is worth a warning in the verdict."""


@dataclass(frozen=True, slots=True)
class SloRow:
    name: str
    label: str
    where: str
    target: float
    predicted: float | None
    measured: float | None
    passed: bool
    key: tuple[str, str]
    judged: bool = True


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One stage: predicted and measured figures and the relative error of the prediction."""

    index: int
    users: int
    cells: tuple[tuple[str, float | None, float | None, float | None], ...]
    """(metric, predicted, measured, relative error) for throughput, p50 and p95."""
    spreads: tuple[tuple[float | None, float, float] | None, ...] = ()
    """Per cell, when ``harness validate`` replicated this stage: (mean, lowest, highest)
    of the measured figure over its replications."""
    replications: int = 0


def _predicted_for_slo(
    name: str, users: float | None, prediction: Prediction | None
) -> float | None:
    if prediction is None or users is None:
        return None
    stage = prediction.at(users)
    if stage is None:
        return None
    if "page" in name:
        return None  # the model predicts API requests, not whole screens
    if "p50" in name:
        return stage.p50_ms
    if "p95" in name:
        return stage.p95_ms
    if name == "error_rate":
        return stage.error_rate
    return None


def slo_rows(run: Run, prediction: Prediction | None) -> list[SloRow]:
    """The headline gates (whole run); every stage's gates when the run has no overall ones."""
    top_users = max((s.users for s in run.stages), default=None)
    rows = []
    for slo in run.slo:
        stage = run.stage_named(slo.stage)
        users = stage.users if stage else top_users
        where = f"stage {stage.index + 1} ({stage.users:,} users)" if stage else "whole run"
        rows.append(
            SloRow(
                slo.name,
                slo_label(slo.name),
                where,
                slo.target,
                _predicted_for_slo(slo.name, users, prediction),
                slo.measured,
                slo.passed,
                (slo.name, str(slo.stage)),
                slo.judged,
            )
        )
    overall = [r for r in rows if r.where == "whole run"]
    return overall or rows


@dataclass(frozen=True, slots=True)
class SloMatrix:
    """Objectives down, stages across: where each objective held and where it broke."""

    stages: tuple[StageResult, ...]
    rows: tuple[tuple[str, str, tuple[SloResult | None, ...]], ...]
    """(name, label, one result or None per stage)."""


def slo_matrix(run: Run) -> SloMatrix | None:
    staged = [s for s in run.slo if s.stage is not None]
    if not staged:
        return None
    names = list(dict.fromkeys(s.name for s in staged))
    by_key = {(s.name, run.stage_named(s.stage)): s for s in staged}
    rows = tuple(
        (name, slo_label(name), tuple(by_key.get((name, stage)) for stage in run.stages))
        for name in names
    )
    return SloMatrix(run.stages, rows)


def error_rows(
    run: Run, prediction: Prediction, replicated: Sequence[ComparedLevel] = ()
) -> list[ErrorRow]:
    by_users = {level.users: level for level in replicated}
    # A validation level is its measure stage: the last stage at that user count (the settle
    # stage before it has the same users and is not compared).
    measured_at = {stage.users: stage.index for stage in run.stages}
    rows = []
    for stage in run.stages:
        model = prediction.at(stage.users)
        level = by_users.get(stage.users) if measured_at[stage.users] == stage.index else None
        cells, spreads = [], []
        for metric in ("throughput_rps", "p50_ms", "p95_ms"):
            predicted = getattr(model, metric) if model else None
            measured = getattr(stage, metric)
            cells.append((metric, predicted, measured, fmt.relative_change(predicted, measured)))
            spread = level.spread.get(metric) if level else None
            spreads.append(
                (level.measured.figure(metric), spread.min, spread.max)
                if level is not None and spread is not None
                else None
            )
        rows.append(
            ErrorRow(
                stage.index,
                stage.users,
                tuple(cells),
                tuple(spreads) if level else (),
                level.replications if level else 0,
            )
        )
    return rows


def _prediction_warnings(rows: list[ErrorRow]) -> list[Reason]:
    worst: tuple[float, ErrorRow, str] | None = None
    for row in rows:
        for metric, _, _, error in row.cells:
            if error is not None and (worst is None or abs(error) > worst[0]):
                worst = (abs(error), row, metric)
    if worst is None or worst[0] <= PREDICTION_WARN:
        return []
    label = {"throughput_rps": "throughput", "p50_ms": "p50", "p95_ms": "p95"}[worst[2]]
    return [
        Reason(
            "warn",
            f"The model's {label} is {worst[0] * 100:.0f}% off the measurement at "
            f"{worst[1].users:,} users: treat its extrapolations with care",
        )
    ]


def persona_rows(run: Run) -> list[tuple[str, float | None, float | None]]:
    mix = run.persona_mix
    names = list(dict.fromkeys([*mix.target, *mix.achieved]))
    return [(n, mix.target.get(n), mix.achieved.get(n)) for n in names]


def endpoint_groups(run: Run) -> tuple[list[EndpointResult], list[EndpointResult]]:
    """API endpoints and PAGE screens, each busiest first."""
    ordered = sorted(run.endpoints, key=lambda e: (-e.requests, e.endpoint))
    return [e for e in ordered if not e.is_page], [e for e in ordered if e.is_page]


def build_context(artifacts: RunArtifacts, baseline: RunArtifacts | None = None) -> dict[str, Any]:
    """Everything the report template needs, computed; the template only lays it out."""
    run, profile = artifacts.run, artifacts.profile
    comparison: Comparison | None = None
    if baseline is not None:
        comparison = compare(
            run, baseline.run, profile.report.regression_threshold, baseline.directory.name
        )
    capacity = plan(profile, artifacts.capacity, artifacts.simulation)
    errors = (
        error_rows(run, artifacts.prediction, artifacts.replicated) if artifacts.prediction else []
    )
    verdict = decide(run, profile, capacity, comparison, _prediction_warnings(errors))
    api, pages = endpoint_groups(run)
    charts: Mapping[str, Any] = {
        "timeline": figures.run_timeline(artifacts.timeseries, run.stages)
        if artifacts.timeseries and artifacts.timeseries.records
        else None,
        "server": figures.server_timeline(artifacts.scrapes, run.stages),
        "prediction": figures.prediction_panels(artifacts.prediction, run.stages)
        if artifacts.prediction
        else [],
    }
    return {
        "title": f"Capacity report: {run.scenario}, {run.started_at}",
        "run_id": artifacts.directory.name,
        "run": run,
        "profile": profile,
        "profile_toml": artifacts.profile_toml,
        "prediction": artifacts.prediction,
        "timeseries": artifacts.timeseries,
        "verdict": verdict,
        "slo_rows": slo_rows(run, artifacts.prediction),
        "slo_matrix": slo_matrix(run),
        "capacity": capacity,
        "error_rows": errors,
        "replicated": any(row.spreads for row in errors),
        "charts": charts,
        "api_endpoints": api,
        "page_endpoints": pages,
        "personas": persona_rows(run),
        "assumptions": profile_assumptions(profile),
        "comparison": comparison,
        "machine": run.machine or this_machine(),
        "machine_is_run": run.machine is not None,
    }


def render_run_report(
    run_dir: Path | str,
    out: Path | str | None = None,
    baseline_dir: Path | str | None = None,
) -> Path:
    """Render ``run_dir``'s report to ``out`` (default ``run_dir/report.html``); return it.

    Raises :class:`reports.load.ArtifactError` when a directory is missing or malformed.
    """
    artifacts = load_run(run_dir)
    baseline = load_run(baseline_dir) if baseline_dir is not None else None
    target = Path(out) if out is not None else artifacts.directory / "report.html"
    return render_to_file("report.html.j2", build_context(artifacts, baseline), target)
