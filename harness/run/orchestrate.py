"""``harness run``, end to end: target, swarm, watching, and every artifact, even on failure.

    check or start the target ─► baseline scrape + database snapshot ─► probe, scrape, Locust
        ─► watch (progress, breach window, service and workers alive, Ctrl-C) ─► stop carefully
        ─► final scrape ─► histograms, stages, endpoints, time series ─► reconcile, audit
        ─► gates, alerts ─► run.json ─► report.html ─► exit code

The watching is harness/run/watch.py, the conclusion harness/run/outcome.py, a chaos
scenario's fault harness/run/chaos/ (through :class:`ChaosSession` alone).

Exit codes: 3 when the target is unreachable (before any load) or when the run is incomplete
(something was lost or cut short; ``run.json`` says what), else 1 on a breached objective or a
failed integrity audit, else 0. ``--abort-on-breach`` ends the run early and exits 1.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from harness import artifacts
from harness.errors import TargetUnreachable, UsageError
from harness.exit_codes import ExitCode
from harness.lab.cleanup import DEFAULT_STATE_DIR, reclaim_abandoned
from harness.run import integrity, reconcile
from harness.run.chaos import ChaosSession
from harness.run.context import Observed, RunContext
from harness.run.junit import write_junit
from harness.run.lab_plan import LabPlan, plan_lab
from harness.run.lab_target import LabService
from harness.run.locust_runner import Swarm, SwarmPlan
from harness.run.model_outputs import ModelOutputsAhead
from harness.run.outcome import conclude
from harness.run.probe import Prober
from harness.run.process_cpu import SAMPLES_FILE as SERVICE_CPU_FILE
from harness.run.process_cpu import ProcessCpuSampler
from harness.run.progress import Progress
from harness.run.run_request import RunRequest, RunState
from harness.run.scrape import Scrape, Scraper, fetch_metrics
from harness.run.service import (
    BundledService,
    ServiceConfig,
    free_port,
    profile_environment,
)
from harness.run.speed_reference import SAMPLES_FILE, SpeedReference
from harness.run.target_check import check_target
from harness.run.watch import INTERRUPTS, Watch, load_seconds
from journeys.stages import scaled_stages
from models.profile import Stage
from models.run_records import LoadGenerator, PersonaMix, Run, Target

__all__ = ["INTERRUPTS", "execute", "redirect_logging"]

logger = logging.getLogger(__name__)


def _check_request(request: RunRequest) -> tuple[Stage, ...]:
    if request.scenario not in request.profile.scenarios:
        known = ", ".join(sorted(request.profile.scenarios))
        raise UsageError(f"unknown scenario {request.scenario!r} (the profile has: {known})")
    for name in ("scale", "duration_scale", "seed_scale"):
        value = getattr(request, name)
        if not value > 0:
            raise UsageError(f"--{name.replace('_', '-')} = {value}: must be a positive number")
    for name in ("workers", "expect_workers"):
        if getattr(request, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} = {getattr(request, name)}: must be >= 0")
    if request.service_workers < 1:
        raise UsageError(f"--service-workers = {request.service_workers}: must be >= 1")
    if request.host is not None and not request.host.startswith(("http://", "https://")):
        raise UsageError(f"--host = {request.host!r}: expected a URL like http://127.0.0.1:8000")
    ChaosSession.check(request)
    return scaled_stages(request.profile, request.scenario, request.scale, request.duration_scale)


def execute(request: RunRequest, progress_stream: TextIO | None = None) -> tuple[int, Path | None]:
    """Run the scenario; return (exit code, run directory)."""
    stages = _check_request(request)
    lab = _plan_lab(request)
    if request.host is not None:
        # Before any load and before any directory: an unreachable target is the whole answer,
        # a refused login or metrics without the named labels a bad profile.
        check_target(request.host.rstrip("/"), request.profile.target, request.ready_timeout_s)
    run_dir = artifacts.new_run_dir(request.out, request.scenario)
    artifacts.write_text(run_dir / "profile.toml", request.profile.to_toml())
    started_at = artifacts.utc_now()
    chaos = ChaosSession.planned_for(request)
    service: BundledService | None = None
    try:
        ahead = None
        if request.host is None:
            database_url = request.database_url
            if chaos is not None:
                database_url = chaos.route_database(database_url)
            service, ahead = _start_service(
                request,
                stages,
                run_dir,
                started_at,
                database_url,
                with_admin=chaos is not None,
                lab=lab,
            )
        run = RunContext(request, stages, run_dir, started_at, service, ahead)
        with INTERRUPTS:
            code = _with_target(run, progress_stream, chaos)
        return code, run_dir
    finally:
        if service is not None:
            service.stop()
        if chaos is not None:
            chaos.stop()


def _plan_lab(request: RunRequest) -> LabPlan | None:
    """The lab's checked plan (UsageError before anything starts), and what a killed earlier
    run left behind removed (its ledger: harness/lab/cleanup.py)."""
    if DEFAULT_STATE_DIR.is_dir():
        for removal in reclaim_abandoned(DEFAULT_STATE_DIR):
            logger.info("cleaned up after an earlier run: %s", removal.what)
    if request.lab is None:
        return None
    if request.host is not None:
        raise UsageError(
            "--host and the lab flags (--instances, --lab, ...): the lab starts its own target; "
            "give one or the other"
        )
    return plan_lab(request.lab, request.profile, request.database_url)


def _start_service(
    request: RunRequest,
    stages: tuple[Stage, ...],
    run_dir: Path,
    started_at: datetime,
    database_url: str | None,
    *,
    with_admin: bool,
    lab: LabPlan | None = None,
) -> tuple[BundledService, ModelOutputsAhead | None]:
    """The bundled service (or the lab in front of it), ready, and the model's side of the
    run, computed while it starts (it needs only the profile and the stages;
    docs/benchmarks.md has what that saves). ``with_admin``: enable /admin/faults with a
    fresh token (a chaos run injects through it)."""
    config = ServiceConfig(
        workers=request.service_workers,
        database_url=database_url,
        seed_scale=request.seed_scale,
        ready_timeout_s=max(request.ready_timeout_s, 60.0),
        cpu_affinity=request.service_cpus,
        environment=profile_environment(request.profile),
        admin_token=secrets.token_urlsafe(24) if with_admin else None,
    )
    service = (
        BundledService(config, run_dir / "logs" / "service.log")
        if lab is None
        else LabService(config, lab, request.profile, run_dir)
    )
    try:
        service.launch()
        ahead = None
        if request.own_users is None:  # the model predicts the bundled journeys only
            ahead = ModelOutputsAhead(
                request.profile,
                stages,
                service_workers=request.service_workers,
                bundled=True,
                plan_profile=request.plan_profile,
                lab=request.lab,
            )
        service.wait_until_ready()
    except TargetUnreachable as exc:
        _write_failed_start(request, run_dir, started_at, str(exc))
        raise
    return service, ahead


def _write_failed_start(
    request: RunRequest, run_dir: Path, started_at: datetime, reason: str
) -> None:
    """run.json of a run whose bundled service never started: no load, exit 3."""
    reasons = (f"the bundled service did not start: {reason}",)
    run = Run(
        scenario=request.scenario,
        started_at=artifacts.iso(started_at),
        finished_at=artifacts.iso(artifacts.utc_now()),
        complete=False,
        incomplete_reasons=reasons,
        target=Target(request.host, request.service_workers, "external", request.host is None),
        load_generator=LoadGenerator(request.workers + request.expect_workers, 0, 0, 0.0, False),
        stages=(),
        endpoints=(),
        persona_mix=PersonaMix({}, {}),
        slo=(),
        alerts=(),
        integrity=integrity.not_checked("no load was run"),
        server_vs_client=reconcile.unavailable("no load was run"),
        exit_code=int(ExitCode.UNREACHABLE),
    )
    artifacts.write_run(run_dir, run, contract_only=True)
    write_junit(run_dir, run)  # CI sees the failed start as a failed case


def _with_target(
    run: RunContext, progress_stream: TextIO | None, chaos: ChaosSession | None
) -> int:
    """Baseline, load, watch, conclude: the run against a target that is up."""
    state = RunState()
    t0 = time.time()

    def clock() -> float:  # one clock for probe, scrape and Locust: seconds since t0
        return time.time() - t0

    before = _scrape_or_none(run, clock(), state, "before the load")
    baseline = _integrity_baseline(run.database_url, state)
    plan = _swarm_plan(run)
    prober = Prober(run.host, clock, path=run.target.health_path)
    scraper = Scraper(
        run.host,
        clock,
        interval_s=2.0,
        headers=run.headers,
        spec=run.target.metrics,
        fetch=run.service.scrape if run.service is not None else None,
    )
    if before is not None:
        scraper.scrapes.append(before)
    prober.start()
    if run.metrics is not None:
        scraper.start()
    swarm = Swarm(plan)
    with Progress(run.request.scenario, len(run.stages), stream=progress_stream) as progress:
        _announce(run, plan, progress)
        if chaos is not None:
            progress.note(chaos.arm(run.service, swarm.kill_one_worker, run.database_url))
        watch = Watch(
            run.request, run.stages, swarm, run.service, prober, state, progress, t0, chaos
        )
        _run_load(run, watch)
        if chaos is not None:
            service_up = run.service is not None and run.service.alive()
            state.chaos, state.chaos_rows = chaos.judge(
                state.live,
                state.load_started_wall(),
                state.reasons,
                run.database_url if service_up else None,
                progress.note,
            )
    prober.stop()
    scraper.stop()
    after = None
    if run.service is None or run.service.alive():
        after = _scrape_or_none(run, clock(), state, "after the load")
        if after is not None:
            scraper.scrapes.append(after)
    return conclude(run, Observed(t0, state, swarm, prober, scraper, baseline, before, after))


def _integrity_baseline(database_url: str | None, state: RunState) -> integrity.Baseline | None:
    """The database before the load, for the audit (None, with a note, if it cannot be read)."""
    if not database_url:
        return None
    try:
        return integrity.snapshot(database_url)
    except Exception as exc:  # the audit is then reported as not checked, with why
        state.notes.append(f"integrity baseline failed: {type(exc).__name__}: {exc}")
        return None


def _swarm_plan(run: RunContext) -> SwarmPlan:
    """The Locust swarm for this run: local, local workers, or workers from other machines."""
    request = run.request
    distributed = request.workers > 0 or request.expect_workers > 0
    return SwarmPlan(
        scenario=request.scenario,
        host=run.host,
        run_dir=run.run_dir,
        profile_path=run.run_dir / "profile.toml",
        scale=request.scale,
        time_scale=request.duration_scale,
        seed_scale=request.seed_scale,
        local_workers=request.workers,
        expect_workers=request.expect_workers,
        master_port=request.master_port or (free_port() if distributed else 5557),
        master_bind_host="0.0.0.0" if request.expect_workers else "127.0.0.1",
        window_s=3.0 if distributed else 2.0,
        expect_workers_max_wait_s=request.expect_workers_max_wait_s,
        seed=request.seed,
        accounts=run.service.seeded_accounts()
        if run.service is not None and request.own_users is None
        else None,
        locustfile=None if request.own_users is None else request.own_users.path,
        think=request.think,
    )


def _announce(run: RunContext, plan: SwarmPlan, progress: Progress) -> None:
    """What the user must know before the load: remote workers and how to start them."""
    request, host = run.request, run.host
    loopback = "://127." in host or "://localhost" in host
    if request.expect_workers and loopback:
        progress.note(
            f"note: the target {host} is a loopback address; workers on other machines "
            "cannot reach it (give --host an address they can reach)"
        )
    if request.expect_workers:
        progress.note(
            f"waiting for {request.expect_workers} worker(s): on each load-generator machine "
            f"run  harness worker --master-host {socket.gethostname()} "
            f"--master-port {plan.master_port}"
        )


def _run_load(run: RunContext, watch: Watch) -> None:
    """Start the swarm, watch it to its end, stop it; a chaos fault still broken is healed and
    the samplers (the machine-speed reference of a pinned service, the service's CPU from
    /proc) stopped, whatever happens."""
    request, swarm, state = run.request, watch.swarm, watch.state
    reference = None
    if run.service is not None and request.service_cpus:
        # The machine's speed on the service's core over the run (harness/run/speed_reference.py).
        reference = SpeedReference(
            sorted(request.service_cpus), watch.t0, run.run_dir / SAMPLES_FILE
        )
    service_cpu = None
    if run.service is not None and run.service.process_cpu_s() is not None:
        # The kernel's count of the service's CPU, read without asking the service.
        service_cpu = ProcessCpuSampler(
            run.service.process_cpu_s,
            lambda: time.time() - watch.t0,
            run.run_dir / SERVICE_CPU_FILE,
        )
    if run.ahead is not None:
        run.ahead.wait()  # finished before the load starts: it never shares the CPU with it
    for sampler in (reference, service_cpu):
        if sampler is not None:
            sampler.start()
    try:
        swarm.start()
        try:
            watch.follow()
        finally:
            swarm.shutdown()
            swarm.kill()
            if watch.chaos is not None:
                watch.chaos.end_fault(load_seconds(state) or 0.0)
    finally:  # also when the swarm did not start: no sampler outlives its run
        for sampler in (reference, service_cpu):
            if sampler is not None:
                sampler.stop()
                if sampler.error:
                    state.notes.append(sampler.error)


def _scrape_or_none(run: RunContext, t_s: float, state: RunState, when: str) -> Scrape | None:
    if run.metrics is None:
        return None  # said once, in run.json's skipped (harness/run/target_check.py)
    try:
        if run.service is not None:
            return run.service.scrape(t_s)
        return fetch_metrics(run.host, t_s, headers=run.headers, spec=run.metrics)
    except Exception as exc:  # an unscrapeable service only costs the reconciliation
        state.notes.append(f"/metrics could not be scraped {when}: {type(exc).__name__}: {exc}")
        return None


def redirect_logging() -> None:
    """Quiet library loggers that would interleave with the live display."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.suppress(Exception):
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
