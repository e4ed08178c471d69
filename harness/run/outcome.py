"""The end of ``harness run``: from what was measured to the files and the exit code.

:func:`conclude` goes through five phases, each a function below::

    completeness  the load generator's final report and merged HDR histograms; every way the
                  load was lost or cut short becomes a reason the run is incomplete
    records       stage, overall and endpoint records; the histogram, time-series, failure
                  and scrape files
    audit         client against server counts, and the lost-write audit
    gates         objectives, integrity and chaos gates, alert rules, the exit code
    write         run.json's record, then run.json, the model's outputs, the report

The exit code::

    incomplete (anything lost or cut short, except an abort on breach)   -> 3
    a breached objective, a failed audit, an abort on breach              -> 1
    otherwise                                                             -> 0
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from harness import artifacts
from harness.exit_codes import ExitCode
from harness.run import alerts as alert_rules
from harness.run import gates, integrity, reconcile, summary
from harness.run.context import Observed, RunContext
from harness.run.final_report import FinalReport, read_final_report
from harness.run.junit import write_junit
from harness.run.model_outputs import write_model_outputs
from harness.run.own_locustfile import SKIPPED
from harness.run.run_request import RunState
from harness.run.scrape import delta_requests
from harness.run.target_check import NO_METRICS
from journeys.hdr import HistogramSet
from journeys.run import read_histograms
from journeys.writelog import WriteRecord as LoggedWrite
from journeys.writelog import read_write_log
from models.profile import Profile
from models.rounding import rounded
from models.run_records import (
    EndpointResult,
    FiredAlert,
    IntegrityAudit,
    LoadGenerator,
    PersonaMix,
    RequestFigures,
    Run,
    ServerVsClient,
    SloResult,
    StageResult,
    Target,
)


@dataclass(frozen=True, slots=True)
class _Measured:
    """What the completeness and records phases read from the load generator."""

    final: FinalReport | None
    histograms: HistogramSet
    stages: list[StageResult]
    overall: RequestFigures
    endpoints: list[EndpointResult]


@dataclass(frozen=True, slots=True)
class _Judged:
    """What the gates phase decided."""

    slo: list[SloResult]
    alerts: list[FiredAlert]
    alerts_not_evaluated: list[str]
    exit_code: ExitCode


def conclude(run: RunContext, observed: Observed) -> int:
    """Write every artifact of the run and return its exit code (module docstring)."""
    final, histograms = _completeness(run, observed)
    measured = _records(run, observed, final, histograms)
    server_vs_client = _reconciliation(run, observed, histograms)
    audit = _audit(run, observed)
    judged = _gates(run, observed, measured, audit)
    _write(run, _summary(run, observed, measured, audit, server_vs_client, judged))
    return int(judged.exit_code)


# --- completeness -----------------------------------------------------------------------------


def _completeness(run: RunContext, observed: Observed) -> tuple[FinalReport | None, HistogramSet]:
    """The final report and the histograms; every loss they show, as a reason."""
    state, swarm = observed.state, observed.swarm
    final = read_final_report(swarm.plan.final_path)
    if final is None:
        state.incomplete("the load generator's final report is missing (it did not quit cleanly)")
    try:
        histograms, hdr_meta = read_histograms(swarm.plan.hdr_path)
    except (OSError, ValueError, KeyError) as exc:
        state.incomplete(f"the merged HDR histograms are missing or unreadable ({exc})")
        histograms, hdr_meta = HistogramSet(), {}
    master = swarm.master
    if master is not None and master.exit_code not in (0, 1, None):
        state.incomplete(f"the Locust master exited with code {master.exit_code} (see logs/)")
    for reason in hdr_meta.get("completeness", {}).get("reasons", []):
        state.incomplete(f"journeys: {reason}")
    _load_generator_losses(observed, final)
    if final is not None and not final.stages_completed and not state.aborted_on_breach:
        state.incomplete(
            f"the load stopped before the last stage ended ({final.stop_reason or 'unknown'})"
        )
    if (final is None or not final.test_started_at) and not state.live:
        state.incomplete(_never_started(observed))
    return final, histograms


def _load_generator_losses(observed: Observed, final: FinalReport | None) -> None:
    """Load-generator processes that died before the load was stopped, or went silent."""
    state = observed.state
    stopped_wall = final.stopped_wall if final is not None else float("inf")
    for role, (code, wall) in sorted(observed.swarm.exited.items()):
        if wall < stopped_wall:
            state.incomplete(
                f"load-generator {role} exited with code {code} at "
                f"t={wall - observed.t0:.1f} s, before the load was stopped"
            )
    if final is None:
        return
    for worker_id in final.missing_final_report:
        state.incomplete(f"load-generator worker {worker_id} sent no report after stopping")
    for worker_id, how in final.lost_workers.items():
        state.incomplete(f"load-generator worker {worker_id} {how.split(' at ')[0]}")


def _never_started(observed: Observed) -> str:
    """The reason for a run whose load never started, with where to look."""
    plan, master = observed.swarm.plan, observed.swarm.master
    log = "master.log" if plan.distributed else "locust.log"
    waited = (
        f"; {plan.worker_count} worker(s) were expected within {plan.expect_workers_max_wait_s:g} s"
        if plan.distributed
        else ""
    )
    locust_code = master.exit_code if master is not None else None
    return f"the load never started (Locust exited with code {locust_code}{waited}; see logs/{log})"


# --- records ----------------------------------------------------------------------------------


def _records(
    run: RunContext, observed: Observed, final: FinalReport | None, histograms: HistogramSet
) -> _Measured:
    """The stage, overall and endpoint records; the stats/ files and server.json."""
    t0, plan, run_dir = observed.t0, observed.swarm.plan, run.run_dir
    started = final.test_started_at if final is not None else None
    ended = final.stopped_wall if final is not None else None
    load_start_s = (started or t0) - t0
    load_end_s = (ended or time.time()) - t0
    probes = observed.prober.snapshot()
    windows = summary.stage_windows(run.stages, load_start_s, load_end_s)
    for window in windows:
        artifacts.write_json(
            run_dir / "stats" / "histograms" / f"{window.index}.json",
            {
                "stage": window.index,
                "name": window.name,
                **summary.stage_histograms(histograms, window.index, len(run.stages)),
            },
        )
    artifacts.write_json(
        run_dir / "stats" / "timeseries.json",
        {
            "window_s": plan.window_s,
            "percentiles": "locust buckets (2 significant digits)",
            "records": observed.state.timeseries,
        },
    )
    failures = sorted(final.failures if final is not None else (), key=lambda f: -f.occurrences)
    artifacts.write_json(
        run_dir / "stats" / "failures.json", {"failures": [f.to_json(t0) for f in failures]}
    )
    artifacts.write_json(run_dir / "server.json", {"scrapes": observed.scraper.snapshot()})
    if not plan.writes_path.exists():
        plan.writes_path.touch()
    return _Measured(
        final=final,
        histograms=histograms,
        stages=summary.stage_records(histograms, windows, probes),
        overall=summary.overall_record(
            histograms, len(run.stages), probes, load_start_s, load_end_s
        ),
        endpoints=summary.endpoint_records(histograms),
    )


# --- audit ------------------------------------------------------------------------------------


def _reconciliation(
    run: RunContext, observed: Observed, histograms: HistogramSet
) -> ServerVsClient:
    """Client against server counts; counts that differ make the run incomplete."""
    state = observed.state
    if run.metrics is None:
        return reconcile.unavailable(NO_METRICS["server_vs_client"])
    if observed.before is None or observed.after is None:
        return reconcile.unavailable("; ".join(state.notes) or "no scrape")
    client = summary.client_counts(histograms)
    own_paths = frozenset({run.target.ready_path, run.target.health_path, run.metrics.url})
    server = delta_requests(observed.before, observed.after, own_paths)
    result = reconcile.reconcile(client, server)
    if not result.match and client and _killed_instance_explains(observed, result):
        missing = result.client_total - result.server_total
        state.notes.append(
            f"client and server request counts differ by {missing}"
            f" (client {result.client_total}, server {result.server_total}): the requests the "
            "killed instance had under way, answered by HAProxy with an error, never counted "
            "by an instance"
        )
    elif not result.match and client and _balancer_answers_explain(observed, result):
        state.notes.append(
            f"client and server request counts differ by exactly the "
            f"{result.client_total - result.server_total} requests HAProxy answered itself "
            f"(client {result.client_total}, instances {result.server_total}): an overloaded "
            "lab's queue timeouts, errors the client counted and no instance saw"
        )
    elif not result.match and client:
        state.incomplete(
            f"client and server request counts differ (client {result.client_total}, server "
            f"{result.server_total}, on {', '.join(result.mismatched[:5]) or 'no endpoint'})"
        )
    return result


def _killed_instance_explains(observed: Observed, result: ServerVsClient) -> bool:
    """A chaos-instance run: the client may count more than the instances by at most the
    requests that failed while the instance died (those HAProxy answered itself)."""
    chaos = observed.state.chaos
    if chaos is None or chaos.kind != "instance" or chaos.figures is None:
        return False
    missing = result.client_total - result.server_total
    return 0 < missing <= chaos.figures.failures


def _balancer_answers_explain(observed: Observed, result: ServerVsClient) -> bool:
    """A lab run: the client counts more than the instances by exactly the requests HAProxy
    received and answered itself, never passing them on (its counters over the load). Only
    an exact match explains the difference: anything else is load lost somewhere."""
    before, after = observed.before, observed.after
    if before is None or after is None or "lab" not in before or "lab" not in after:
        return False
    try:
        received = after["lab"]["frontend_requests"] - before["lab"]["frontend_requests"]
        passed = after["lab"]["balancer_requests"] - before["lab"]["balancer_requests"]
    except KeyError:
        return False
    answered_itself: int = round(received - passed)
    missing = result.client_total - result.server_total
    return answered_itself > 0 and missing == answered_itself


def _audit(run: RunContext, observed: Observed) -> IntegrityAudit:
    """The lost-write audit of the journeys' write log against the database."""
    if run.request.own_users is not None:
        return integrity.not_checked(SKIPPED["integrity"])
    writes_path = observed.swarm.plan.writes_path
    try:
        log = read_write_log(writes_path) if writes_path.exists() else []
    except ValueError as exc:
        return integrity.not_checked(f"the write log is unreadable: {exc}")
    writes = [
        integrity.WriteRecord(
            str(r.kind.value), _audited_id(r) if r.acknowledged else None, r.acknowledged
        )
        for r in log
    ]
    database_url, baseline = run.database_url, observed.baseline
    if not database_url or baseline is None:
        return integrity.not_checked(
            "no database access (an external --host without --database-url)", len(writes)
        )
    try:
        in_db = integrity.present(database_url, baseline)
    except Exception as exc:  # reported, not raised: the other artifacts still matter
        return integrity.not_checked(f"reading the database failed: {exc}", len(writes))
    return integrity.check(writes, in_db)


def _audited_id(record: LoggedWrite) -> int:
    """The id the audit looks up: an award is checked on its job (journeys log the bid id)."""
    if record.kind.value == "award" and record.parent_id is not None:
        return int(record.parent_id)
    assert record.id is not None  # only acknowledged writes are looked up: they have their id
    return int(record.id)


# --- gates ------------------------------------------------------------------------------------


def _gates(
    run: RunContext, observed: Observed, measured: _Measured, audit: IntegrityAudit
) -> _Judged:
    """The ``slo`` rows and the alerts; from them and the reasons, the exit code."""
    request, state = run.request, observed.state
    profile = request.profile
    slo = gates.evaluate(profile.slo, measured.stages, measured.overall, measured.endpoints)
    if profile.scenarios[request.scenario].fault is not None:
        # A chaos run breaks the steady-state objectives on purpose; they are recorded for the
        # reader but its own gates (error budget, recovery, drain, integrity) decide.
        slo = [replace(row, judged=False) for row in slo]
    slo.extend(_integrity_gates(audit, state))
    slo.extend(state.chaos_rows)  # a chaos scenario's gates breach like objectives
    cores = float(min(request.service_workers, os.cpu_count() or 1))
    if request.lab is not None:  # the instances' CPU is summed: their limits are the cores
        cores = request.lab.instances * request.lab.cpu_limit
    series = alert_rules.metric_series(state.timeseries, observed.scraper.snapshot(), cores)
    fired, not_evaluated = alert_rules.evaluate(profile.alerts, series)
    breached = any(not row.passed and row.judged for row in slo)
    breach = breached or state.aborted_on_breach is not None
    if state.aborted_on_breach:
        state.incomplete(f"aborted early on a sustained breach: {state.aborted_on_breach}")
    only_abort = state.aborted_on_breach is not None and len(state.reasons) == 1
    if state.reasons and not only_abort:
        exit_code = ExitCode.UNREACHABLE
    elif breach:
        exit_code = ExitCode.BREACH
    else:
        exit_code = ExitCode.OK
    return _Judged(slo, fired, not_evaluated, exit_code)


def _integrity_gates(audit: IntegrityAudit, state: RunState) -> list[SloResult]:
    """``integrity_lost`` and ``integrity_unexpected`` (target 0), when the audit ran."""
    if not audit.checked:
        return []
    judged = [("integrity_lost", audit.lost), ("integrity_unexpected", audit.unexpected)]
    if _lost_load_generator(state) and audit.unexpected:
        # A killed worker's write log dies with it: the rows its users wrote are in the
        # database but in no surviving log. That is the harness's loss, not the service's,
        # so "unexpected" cannot be judged; the run is already incomplete for it.
        judged = judged[:1]
        state.notes.append(
            f"integrity: {audit.unexpected} write(s) in the database are in no surviving "
            "write log; a load-generator worker was lost with its log, so they are not "
            "judged as unexpected"
        )
    return [SloResult(name, 0, value, value == 0, None) for name, value in judged]


def _lost_load_generator(state: RunState) -> bool:
    """Whether a load-generator worker died or went silent during the run."""
    return any(
        reason.startswith(("load-generator worker", "journeys: worker")) for reason in state.reasons
    )


# --- write ------------------------------------------------------------------------------------


def _summary(
    run: RunContext,
    observed: Observed,
    measured: _Measured,
    audit: IntegrityAudit,
    server_vs_client: ServerVsClient,
    judged: _Judged,
) -> Run:
    """run.json's record of the run."""
    request, state = run.request, observed.state
    load_generator = _load_generator(run, observed, measured.final)
    warning = _unreliable_warning(request.profile, load_generator.cpu_max)
    return Run(
        scenario=request.scenario,
        started_at=artifacts.iso(run.started_at),
        finished_at=artifacts.iso(artifacts.utc_now()),
        complete=not state.reasons,
        incomplete_reasons=tuple(state.reasons),
        target=_target(run),
        load_generator=load_generator,
        stages=tuple(measured.stages),
        overall=measured.overall,
        endpoints=tuple(measured.endpoints),
        persona_mix=PersonaMix({}, {})
        if request.own_users is not None
        else _persona_mix(request.profile, measured.final.user_classes if measured.final else {}),
        slo=tuple(judged.slo),
        alerts=tuple(judged.alerts),
        alerts_not_evaluated=tuple(judged.alerts_not_evaluated),
        integrity=audit,
        chaos=state.chaos,
        server_vs_client=server_vs_client,
        exit_code=int(judged.exit_code),
        duration_scale=request.duration_scale,
        scale=request.scale,
        percentiles="HDR histograms, 3 significant digits, merged across workers",
        load_model="closed (users with think time)",
        notes=tuple(state.notes)
        + (() if request.no_plan_reason is None else (request.no_plan_reason,)),
        warnings=(warning,) if load_generator.unreliable else (),
        machine=artifacts.machine(),
        command=" ".join(sys.argv),
        lab=None
        if run.service is None
        else run.service.lab_record(server_vs_client.client_total, observed.before, observed.after),
        skipped=_skipped(run),
    )


def _skipped(run: RunContext) -> dict[str, str]:
    """The checks this run cannot make, with why: your own users, a target without metrics."""
    skipped = dict(SKIPPED) if run.request.own_users is not None else {}
    if run.metrics is None:
        skipped.update(NO_METRICS)
    return skipped


def _write(run: RunContext, summary_record: Run) -> None:
    """run.json, the model's outputs beside it, the report; the load generator's warning on
    the terminal too."""
    request = run.request
    artifacts.write_run(run.run_dir, summary_record)
    write_junit(run.run_dir, summary_record)
    if request.own_users is None:  # the model predicts the bundled journeys only
        _write_model_outputs(run)
    if request.report:
        artifacts.render_report(run.run_dir, request.baseline)
    for warning in summary_record.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _write_model_outputs(run: RunContext) -> None:
    request = run.request
    write_model_outputs(
        run.run_dir,
        request.profile,
        run.stages,
        service_workers=request.service_workers,
        bundled=run.service is not None,
        ahead=run.ahead,
        plan_profile=request.plan_profile,
        plan=request.no_plan_reason is None,
        lab=request.lab,
    )


def _unreliable_warning(profile: Profile, cpu_max: float) -> str:
    threshold = profile.gates.loadgen_cpu_unreliable
    return (
        f"load-generator CPU reached {cpu_max:.0%} (above {threshold:.0%}): its latency "
        "figures are unreliable"
    )


def _target(run: RunContext) -> Target:
    service, request = run.service, run.request
    if service is not None:
        return Target(
            service.url, request.service_workers, service.database_kind, True, request.seed_scale
        )
    database_url = run.database_url
    database = "external" if not database_url else _db_kind(database_url)
    return Target(request.host, None, database, False, None)


def _db_kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _load_generator(
    run: RunContext, observed: Observed, final: FinalReport | None
) -> LoadGenerator:
    """How many load-generator processes ran, and whether the busiest stayed reliable."""
    plan, timeseries = observed.swarm.plan, observed.state.timeseries
    cpu_max = max(
        final.cpu_max if final is not None else 0.0,
        observed.swarm.cpu_max,
        max((float(r.get("loadgen_cpu") or 0.0) for r in timeseries), default=0.0),
    )
    threshold = run.request.profile.gates.loadgen_cpu_unreliable
    processes = max(plan.worker_count, 1)
    peak_users = (final.peak_users if final is not None else 0) or max(
        (r["users"] for r in timeseries), default=0
    )
    request = run.request
    return LoadGenerator(
        workers=plan.worker_count,
        processes=processes,
        users_per_process=round(int(peak_users) / processes, 2),
        cpu_max=rounded(cpu_max, 4),
        unreliable=cpu_max > threshold,
        cpu_unreliable_threshold=threshold,
        mode="remote"
        if request.expect_workers
        else ("local-distributed" if request.workers else "local"),
    )


def _persona_mix(profile: Profile, user_classes: Mapping[str, int]) -> PersonaMix:
    """The personas' shares: the profile's, and the users the run started per persona."""
    target: dict[str, float] = {name: persona.share for name, persona in profile.personas.items()}
    counts: dict[str, int] = {}
    for class_name, count in user_classes.items():
        persona = class_name.lower().removesuffix("user")
        counts[persona] = counts.get(persona, 0) + int(count)
    total = sum(counts.values())
    achieved = {name: round(counts.get(name, 0) / total, 6) if total else 0.0 for name in target}
    return PersonaMix(target, achieved, counts)
