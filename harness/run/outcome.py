"""The end of ``harness run``: from what was measured to the files and the exit code.

Reads the load generator's final report and merged HDR histograms, builds the stage, endpoint
and time-series records, reconciles client and server counts, audits the writes, evaluates the
gates and alert rules, writes every artifact (docs/artifacts.md) and decides the exit code::

    incomplete (anything lost or cut short, except an abort on breach)   -> 3
    a breached objective, a failed audit, an abort on breach              -> 1
    otherwise                                                             -> 0
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from harness import artifacts
from harness.exit_codes import ExitCode
from harness.run import alerts as alert_rules
from harness.run import gates, integrity, reconcile, summary
from harness.run.locust_runner import Swarm, SwarmPlan
from harness.run.model_outputs import ModelOutputsAhead, write_model_outputs
from harness.run.probe import Prober
from harness.run.run_request import RunRequest, RunState
from harness.run.scrape import Scraper, delta_requests
from harness.run.service import BundledService
from journeys.hdr import HistogramSet
from journeys.run import read_histograms
from models.profile import Profile, Stage


def _read_final(plan: SwarmPlan, state: RunState) -> dict[str, Any]:
    try:
        final: dict[str, Any] = json.loads(plan.final_path.read_text(encoding="utf-8"))
        return final
    except (OSError, ValueError):
        state.incomplete("the load generator's final report is missing (it did not quit cleanly)")
        return {}


def _read_histograms(plan: SwarmPlan, state: RunState) -> tuple[HistogramSet, dict[str, Any]]:
    try:
        return read_histograms(plan.hdr_path)
    except (OSError, ValueError, KeyError) as exc:
        state.incomplete(f"the merged HDR histograms are missing or unreadable ({exc})")
        return HistogramSet(), {}


def conclude(
    request: RunRequest,
    stages: tuple[Stage, ...],
    run_dir: Path,
    started_at: Any,
    service: BundledService | None,
    database_url: str | None,
    baseline: integrity.Baseline | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    prober: Prober,
    scraper: Scraper,
    swarm: Swarm,
    state: RunState,
    t0: float,
    *,
    ahead: ModelOutputsAhead | None = None,
) -> int:
    """Write every artifact of the run and return its exit code (module docstring). ``ahead``:
    the model outputs, computed while the service started (harness/run/model_outputs.py)."""
    plan = swarm.plan
    profile = request.profile
    final = _read_final(plan, state)
    histograms, hdr_meta = _read_histograms(plan, state)
    master = swarm.master
    if master is not None and master.exit_code not in (0, 1, None):
        state.incomplete(f"the Locust master exited with code {master.exit_code} (see logs/)")
    for reason in hdr_meta.get("completeness", {}).get("reasons", []):
        state.incomplete(f"journeys: {reason}")
    stopped_wall = final.get("finished_at") or final.get("wall") or float("inf")
    for role, (code, wall) in sorted(swarm.exited.items()):
        if wall < stopped_wall:
            state.incomplete(
                f"load-generator {role} exited with code {code} at t={wall - t0:.1f} s, "
                "before the load was stopped"
            )
    for worker_id in final.get("missing_final_report", []):
        state.incomplete(f"load-generator worker {worker_id} sent no report after stopping")
    for worker_id, how in final.get("lost_workers", {}).items():
        state.incomplete(f"load-generator worker {worker_id} {how.split(' at ')[0]}")
    if final and not final.get("stages_completed") and not state.aborted_on_breach:
        stop_reason = final.get("stop_reason") or "unknown"
        state.incomplete(f"the load stopped before the last stage ended ({stop_reason})")
    if not final.get("test_started_at") and not state.live:
        log = "master.log" if plan.distributed else "locust.log"
        waited = (
            f"; {plan.worker_count} worker(s) were expected within "
            f"{plan.expect_workers_max_wait_s:g} s"
            if plan.distributed
            else ""
        )
        locust_code = master.exit_code if master is not None else None
        state.incomplete(
            f"the load never started (Locust exited with code {locust_code}{waited}; "
            f"see logs/{log})"
        )

    load_start_s = (final.get("test_started_at") or t0) - t0
    load_end_s = (final.get("finished_at") or final.get("wall") or time.time()) - t0
    probes = prober.snapshot()
    windows = summary.stage_windows(stages, load_start_s, load_end_s)
    stage_records = summary.stage_records(histograms, windows, probes)
    overall = summary.overall_record(histograms, len(stages), probes, load_start_s, load_end_s)
    for window in windows:
        artifacts.write_json(
            run_dir / "stats" / "histograms" / f"{window.index}.json",
            {
                "stage": window.index,
                "name": window.name,
                **summary.stage_histograms(histograms, window.index, len(stages)),
            },
        )
    artifacts.write_json(
        run_dir / "stats" / "timeseries.json",
        {
            "window_s": plan.window_s,
            "percentiles": "locust buckets (2 significant digits)",
            "records": state.timeseries,
        },
    )
    artifacts.write_json(run_dir / "stats" / "failures.json", {"failures": _failures(final, t0)})
    artifacts.write_json(run_dir / "server.json", {"scrapes": scraper.snapshot()})
    if not plan.writes_path.exists():
        plan.writes_path.touch()

    client = summary.client_counts(histograms)
    if before is not None and after is not None:
        server_vs_client = reconcile.reconcile(client, delta_requests(before, after))
        if not server_vs_client["match"] and client:
            totals = f"client {server_vs_client['client_total']}, server "
            totals += str(server_vs_client["server_total"])
            state.incomplete(
                f"client and server request counts differ ({totals}, on "
                f"{', '.join(server_vs_client['mismatched'][:5]) or 'no endpoint'})"
            )
    else:
        server_vs_client = reconcile.unavailable("; ".join(state.notes) or "no scrape")

    audit = _audit(database_url, baseline, plan, state)
    slo_results = gates.evaluate(profile.slo, stage_records, overall)
    slo_rows = [r.as_dict() for r in slo_results]
    if profile.scenarios[request.scenario].fault is not None:
        # A chaos run breaks the steady-state objectives on purpose; they are recorded for the
        # reader but its own gates (error budget, recovery, drain, integrity) decide.
        slo_rows = [row | {"judged": False} for row in slo_rows]
    if audit.checked:
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
        for name, value in judged:
            slo_rows.append(
                {"name": name, "target": 0, "measured": value, "passed": value == 0, "stage": None}
            )
    slo_rows.extend(state.chaos_rows)  # a chaos scenario's gates breach like objectives
    cores = float(min(request.service_workers, os.cpu_count() or 1))
    fired, not_evaluated = alert_rules.evaluate(
        profile.alerts, alert_rules.metric_series(state.timeseries, scraper.snapshot(), cores)
    )

    cpu_max = max(
        float(final.get("cpu_max") or 0.0),
        swarm.cpu_max,
        max((float(r.get("loadgen_cpu") or 0.0) for r in state.timeseries), default=0.0),
    )
    unreliable = cpu_max > profile.gates.loadgen_cpu_unreliable
    processes = max(plan.worker_count, 1)
    peak_users = int(
        final.get("peak_users") or max((r["users"] for r in state.timeseries), default=0)
    )
    breach = (
        any(not row["passed"] and row.get("judged", True) for row in slo_rows)
        or state.aborted_on_breach is not None
    )
    if state.aborted_on_breach:
        state.incomplete(f"aborted early on a sustained breach: {state.aborted_on_breach}")
    only_abort = state.aborted_on_breach is not None and len(state.reasons) == 1
    if state.reasons and not only_abort:
        exit_code = ExitCode.UNREACHABLE
    elif breach:
        exit_code = ExitCode.BREACH
    else:
        exit_code = ExitCode.OK

    run = {
        "scenario": request.scenario,
        "started_at": artifacts.iso(started_at),
        "finished_at": artifacts.iso(artifacts.utc_now()),
        "complete": not state.reasons,
        "incomplete_reasons": list(state.reasons),
        "target": {
            "host": service.url if service else request.host,
            "workers": request.service_workers if service else None,
            "database": service.database_kind
            if service
            else ("external" if not database_url else _db_kind(database_url)),
            "bundled": service is not None,
            "seed_scale": request.seed_scale if service else None,
        },
        "load_generator": {
            "workers": plan.worker_count,
            "processes": processes,
            "users_per_process": round(peak_users / processes, 2),
            "cpu_max": round(cpu_max, 4),
            "unreliable": unreliable,
            "cpu_unreliable_threshold": profile.gates.loadgen_cpu_unreliable,
            "mode": "remote"
            if request.expect_workers
            else ("local-distributed" if request.workers else "local"),
        },
        "stages": stage_records,
        "overall": overall,
        "endpoints": summary.endpoint_records(histograms),
        "persona_mix": _persona_mix(profile, final.get("user_classes", {})),
        "slo": slo_rows,
        "alerts": [a.as_dict() for a in fired],
        "alerts_not_evaluated": not_evaluated,
        "integrity": audit.as_dict(),
        "chaos": state.chaos,
        "server_vs_client": server_vs_client,
        "exit_code": int(exit_code),
        "duration_scale": request.duration_scale,
        "scale": request.scale,
        "percentiles": "HDR histograms, 3 significant digits, merged across workers",
        "load_model": "closed (users with think time)",
        "notes": state.notes,
        "warnings": (
            [
                f"load-generator CPU reached {cpu_max:.0%} (above "
                f"{profile.gates.loadgen_cpu_unreliable:.0%}): its latency figures are unreliable"
            ]
            if unreliable
            else []
        ),
        "machine": artifacts.machine(),
        "command": " ".join(sys.argv),
    }
    artifacts.write_run(run_dir, run)
    write_model_outputs(
        run_dir,
        profile,
        stages,
        service_workers=request.service_workers,
        bundled=service is not None,
        ahead=ahead,
    )
    if request.report:
        artifacts.render_report(run_dir)
    if unreliable:
        print(
            f"warning: load-generator CPU reached {cpu_max:.0%} (> "
            f"{profile.gates.loadgen_cpu_unreliable:.0%}): latency figures are unreliable",
            file=sys.stderr,
        )
    return int(exit_code)


def _lost_load_generator(state: RunState) -> bool:
    """Whether a load-generator worker died or went silent during the run."""
    return any(
        reason.startswith(("load-generator worker", "journeys: worker")) for reason in state.reasons
    )


def _db_kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _audit(
    database_url: str | None, baseline: integrity.Baseline | None, plan: SwarmPlan, state: RunState
) -> integrity.AuditResult:
    from journeys.writelog import read_write_log

    try:
        log = read_write_log(plan.writes_path) if plan.writes_path.exists() else []
    except ValueError as exc:
        return integrity.not_checked(f"the write log is unreadable: {exc}")
    writes = [
        integrity.WriteRecord(
            str(r.kind.value), _audited_id(r) if r.acknowledged else None, r.acknowledged
        )
        for r in log
    ]
    if not database_url or baseline is None:
        return integrity.not_checked(
            "no database access (an external --host without --database-url)", len(writes)
        )
    try:
        in_db = integrity.present(database_url, baseline)
    except Exception as exc:  # reported, not raised: the other artifacts still matter
        return integrity.not_checked(f"reading the database failed: {exc}", len(writes))
    return integrity.check(writes, in_db)


def _audited_id(record: Any) -> int:
    """The id the audit looks up: an award is checked on its job (journeys log the bid id)."""
    if record.kind.value == "award" and record.parent_id is not None:
        return int(record.parent_id)
    return int(record.id)


def _failures(final: dict[str, Any], t0: float) -> list[dict[str, Any]]:
    rows = []
    for failure in final.get("failures", []):
        row = dict(failure)
        for key in ("first_seen", "last_seen"):
            wall = row.pop(key, None)
            row[f"{key}_s"] = None if wall is None else round(float(wall) - t0, 3)
        rows.append(row)
    return sorted(rows, key=lambda r: -int(r.get("occurrences", 0)))


def _persona_mix(profile: Profile, user_classes: dict[str, int]) -> dict[str, Any]:
    target = {name: persona.share for name, persona in profile.personas.items()}
    counts: dict[str, int] = {}
    for class_name, count in user_classes.items():
        persona = class_name.lower().removesuffix("user")
        counts[persona] = counts.get(persona, 0) + int(count)
    total = sum(counts.values())
    achieved = {name: round(counts.get(name, 0) / total, 6) if total else 0.0 for name in target}
    return {"target": target, "achieved": achieved, "users": counts}
