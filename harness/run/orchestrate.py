"""``harness run``, end to end: target, swarm, watching, and every artifact, even on failure.

    check or start the target ─► baseline scrape + database snapshot ─► probe, scrape, Locust
        ─► watch (progress, breach window, service and workers alive, Ctrl-C) ─► stop carefully
        ─► final scrape ─► histograms, stages, endpoints, time series ─► reconcile, audit
        ─► gates, alerts ─► run.json ─► report.html ─► exit code

Exit codes: 3 when the target is unreachable (before any load) or when the run is incomplete
(something was lost or cut short; ``run.json`` says what), else 1 on a breached objective or a
failed integrity audit, else 0. ``--abort-on-breach`` ends the run early and exits 1.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from harness import artifacts, chaos
from harness.errors import TargetUnreachable, UsageError
from harness.exit_codes import ExitCode
from harness.run import gates, integrity, reconcile, summary
from harness.run.locust_runner import Swarm, SwarmPlan
from harness.run.model_outputs import ModelOutputsAhead
from harness.run.outcome import conclude
from harness.run.probe import Prober
from harness.run.progress import Progress
from harness.run.run_request import RunRequest, RunState
from harness.run.scrape import Scraper, fetch_metrics
from harness.run.service import (
    BundledService,
    ServiceConfig,
    free_port,
    profile_environment,
    wait_ready,
)
from harness.run.speed_reference import SAMPLES_FILE, SpeedReference
from journeys.stages import scaled_stages
from models.profile import Stage

logger = logging.getLogger(__name__)

#: Consecutive failed probes (one a second) after which an external target counts as down.
DOWN_AFTER_PROBES = 5
#: Seconds the master gets to stop gracefully after a stop request before it is signalled.
STOP_GRACE_S = 45.0


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
    _check_chaos(request)
    return scaled_stages(request.profile, request.scenario, request.scale, request.duration_scale)


def _check_chaos(request: RunRequest) -> None:
    """A chaos scenario needs the parts its fault acts on; say which is missing."""
    fault = request.profile.scenarios[request.scenario].fault
    if fault is None:
        return
    name = request.scenario
    if fault.kind != "loadgen" and request.host is not None:
        raise UsageError(
            f"{name} injects its fault into the bundled service; run it without --host"
        )
    if fault.kind == "db" and not (request.database_url or "").startswith("postgresql"):
        raise UsageError(
            f"{name} puts the fault proxy on the PostgreSQL path: give --database-url "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        )
    if fault.kind == "worker" and request.service_workers < 2:
        raise UsageError(
            f"{name} kills one service worker mid-run: give --service-workers 2 or more "
            f"(got {request.service_workers})"
        )
    if fault.kind == "loadgen" and request.workers < 1:
        raise UsageError(
            f"{name} kills one local Locust worker mid-run: give --workers 1 or more "
            f"(got {request.workers})"
        )


def execute(request: RunRequest, progress_stream: Any = None) -> tuple[int, Path | None]:
    """Run the scenario; return (exit code, run directory)."""
    stages = _check_request(request)
    if request.host is not None:
        # Before any load and before any directory: an unreachable target is the whole answer.
        wait_ready(request.host.rstrip("/"), request.ready_timeout_s)
    run_dir = artifacts.new_run_dir(request.out, request.scenario)
    artifacts.write_text(run_dir / "profile.toml", request.profile.to_toml())
    started_at = artifacts.utc_now()
    fault = request.profile.scenarios[request.scenario].fault
    proxy: chaos.DatabaseProxy | None = None
    service_database_url = request.database_url
    if fault is not None and fault.kind == "db" and request.database_url:
        proxy, service_database_url = _start_proxy(request.database_url)
    service: BundledService | None = None
    ahead: ModelOutputsAhead | None = None
    if request.host is None:
        service = BundledService(
            ServiceConfig(
                workers=request.service_workers,
                database_url=service_database_url,
                seed_scale=request.seed_scale,
                ready_timeout_s=max(request.ready_timeout_s, 60.0),
                cpu_affinity=request.service_cpus,
                environment=profile_environment(request.profile),
                admin_token=secrets.token_urlsafe(24) if fault is not None else None,
            ),
            run_dir / "logs" / "service.log",
        )
        try:
            service.launch()
            # The model's side of the run, computed while the service starts (it needs only
            # the profile and the stages): `harness run smoke` took 0.65 s less (median of 5).
            ahead = ModelOutputsAhead(
                request.profile, stages, service_workers=request.service_workers, bundled=True
            )
            service.wait_until_ready()
        except TargetUnreachable as exc:
            _write_failed_start(request, run_dir, started_at, str(exc))
            if proxy is not None:
                proxy.stop()
            raise
    try:
        with INTERRUPTS:
            code = _with_target(
                request, stages, run_dir, started_at, service, progress_stream, proxy, ahead
            )
        return code, run_dir
    finally:
        if service is not None:
            service.stop()
        if proxy is not None:
            proxy.stop()


def _start_proxy(database_url: str) -> tuple[chaos.DatabaseProxy, str]:
    """The fault proxy in front of ``database_url``'s server; the URL that goes through it.

    The service connects through the proxy; the integrity audit and the drain check keep the
    direct URL, so they read the truth whatever the proxy is doing.
    """
    url = make_url(database_url)
    proxy = chaos.DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
    port = proxy.start()
    proxied = url.set(host="127.0.0.1", port=port)
    return proxy, proxied.render_as_string(hide_password=False)


def _write_failed_start(request: RunRequest, run_dir: Path, started_at: Any, reason: str) -> None:
    run = _empty_run(request, started_at, [f"the bundled service did not start: {reason}"])
    artifacts.write_run(run_dir, run)


def _empty_run(request: RunRequest, started_at: Any, reasons: list[str]) -> dict[str, Any]:
    return {
        "scenario": request.scenario,
        "started_at": artifacts.iso(started_at),
        "finished_at": artifacts.iso(artifacts.utc_now()),
        "complete": False,
        "incomplete_reasons": reasons,
        "target": {
            "host": request.host,
            "workers": request.service_workers,
            "database": "external",
            "bundled": request.host is None,
        },
        "load_generator": {
            "workers": request.workers + request.expect_workers,
            "processes": 0,
            "users_per_process": 0,
            "cpu_max": 0.0,
            "unreliable": False,
        },
        "stages": [],
        "endpoints": [],
        "persona_mix": {"target": {}, "achieved": {}},
        "slo": [],
        "alerts": [],
        "integrity": integrity.not_checked("no load was run").as_dict(),
        "server_vs_client": reconcile.unavailable("no load was run"),
        "exit_code": int(ExitCode.UNREACHABLE),
    }


def _with_target(
    request: RunRequest,
    stages: tuple[Stage, ...],
    run_dir: Path,
    started_at: Any,
    service: BundledService | None,
    progress_stream: Any,
    proxy: chaos.DatabaseProxy | None = None,
    ahead: ModelOutputsAhead | None = None,
) -> int:
    host = service.url if service is not None else str(request.host).rstrip("/")
    database_url = service.database_url if service is not None else request.database_url
    if request.database_url:  # not the fault proxy's address (chaos-db): the audit reads truth
        database_url = request.database_url
    headers = service.admin_headers if service is not None else {}
    state = RunState()
    t0 = time.time()

    def clock() -> float:  # one clock for probe, scrape and Locust: seconds since t0
        return time.time() - t0

    before = _scrape_or_none(host, clock(), state, "before the load", headers)
    baseline = None
    if database_url:
        try:
            baseline = integrity.snapshot(database_url)
        except Exception as exc:  # the audit is then reported as not checked, with why
            state.notes.append(f"integrity baseline failed: {type(exc).__name__}: {exc}")

    distributed = request.workers > 0 or request.expect_workers > 0
    plan = SwarmPlan(
        scenario=request.scenario,
        host=host,
        run_dir=run_dir,
        profile_path=run_dir / "profile.toml",
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
        accounts=service.seeded_accounts() if service is not None else None,
    )
    prober = Prober(host, clock)
    scraper = Scraper(host, clock, interval_s=2.0, headers=headers)
    if before is not None:
        scraper.scrapes.append(before)
    prober.start()
    scraper.start()
    reference = None
    if service is not None and request.service_cpus:
        # The machine's speed on the service's core over the run (harness/run/speed_reference.py).
        reference = SpeedReference(sorted(request.service_cpus), t0, run_dir / SAMPLES_FILE)
    swarm = Swarm(plan)
    controller = _chaos_controller(request, service, swarm, proxy)
    if controller is not None and database_url:
        direct_url = database_url
        controller.backlog = lambda: chaos.pending(direct_url)
    with Progress(request.scenario, len(stages), stream=progress_stream) as progress:
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
        if controller is not None:
            progress.note(chaos.describe(controller.fault))
        if ahead is not None:
            ahead.wait()  # finished before the load starts: it never shares the CPU with it
        if reference is not None:
            reference.start()
        try:
            swarm.start()
            try:
                _watch(
                    request, stages, plan, swarm, service, prober, state, progress, t0, controller
                )
            finally:
                swarm.shutdown()
                swarm.kill()
                if controller is not None:
                    controller.close(_load_seconds(state) or 0.0)
        finally:  # also when the swarm did not start: the reference never outlives its run
            if reference is not None:
                reference.stop()
                if reference.error:
                    state.notes.append(reference.error)
        if controller is not None:
            _judge_chaos(controller, service, database_url, state, progress)
    prober.stop()
    scraper.stop()
    after = None
    if service is None or service.alive():
        after = _scrape_or_none(host, clock(), state, "after the load", headers)
        if after is not None:
            scraper.scrapes.append(after)
    return conclude(
        request,
        stages,
        run_dir,
        started_at,
        service,
        database_url,
        baseline,
        before,
        after,
        prober,
        scraper,
        swarm,
        state,
        t0,
        ahead=ahead,
    )


def _chaos_controller(
    request: RunRequest,
    service: BundledService | None,
    swarm: Swarm,
    proxy: chaos.DatabaseProxy | None,
) -> chaos.ChaosController | None:
    """The scenario's fault, its times scaled like the stages, with the injector its kind needs."""
    planned = request.profile.scenarios[request.scenario].fault
    if planned is None:
        return None
    fault = chaos.scaled(planned, request.duration_scale)
    injector: chaos.Injector
    if fault.kind == "loadgen":
        injector = chaos.LoadgenWorkerKill(swarm.kill_one_worker)
    else:
        assert service is not None and service.process is not None  # _check_chaos
        token = str(service.config.admin_token)
        admin = chaos.AdminFaults(
            service.url, token, chaos.ADMIN_DEPENDENCIES.get(fault.kind, ("database",))
        )
        if fault.kind == "db":
            assert proxy is not None  # execute() starts it for chaos-db
            injector = chaos.DatabaseFaults(proxy, admin)
        elif fault.kind == "worker":
            injector = chaos.ServiceWorkerKill(service.process.pid, request.service_workers)
        else:
            injector = admin
    return chaos.ChaosController(fault, injector)


def _load_seconds(state: RunState) -> float | None:
    """Seconds since the load started, from the live feed (None before it started)."""
    started = next(
        (line["test_started_at"] for line in state.live if line.get("test_started_at")), None
    )
    return None if started is None else time.time() - float(started)


def _judge_chaos(
    controller: chaos.ChaosController,
    service: BundledService | None,
    database_url: str | None,
    state: RunState,
    progress: Progress,
) -> None:
    """After the load: wait for the backlog to drain, then assess the fault's run."""
    drain = None
    if database_url and service is not None and service.alive():
        progress.note(f"chaos: waiting up to {controller.fault.drain_s:g} s for the outbox")
        drain = chaos.wait_drained(database_url, controller.fault.drain_s)
    started = next(
        (float(line["test_started_at"]) for line in state.live if line.get("test_started_at")),
        None,
    )
    state.chaos, state.chaos_rows = chaos.assess(
        controller, state.live, started, drain, state.reasons
    )
    for row in state.chaos_rows:
        verdict = "ok" if row["passed"] else "FAILED"
        progress.note(
            f"chaos: {row['name']} = {row['measured']} (target {row['target']}) {verdict}"
        )


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM during a run: the first asks for a graceful stop (the watch
    loop sees ``count``), the second raises KeyboardInterrupt. Artifacts are written either way.
    """

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        self.count = 0
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


INTERRUPTS = _Interrupts()


def _scrape_or_none(
    host: str, t_s: float, state: RunState, when: str, headers: dict[str, str]
) -> dict[str, Any] | None:
    try:
        return fetch_metrics(host, t_s, headers=headers)
    except Exception as exc:  # an unscrapeable service only costs the reconciliation
        state.notes.append(f"/metrics could not be scraped {when}: {type(exc).__name__}: {exc}")
        return None


def _watch(
    request: RunRequest,
    stages: tuple[Stage, ...],
    plan: SwarmPlan,
    swarm: Swarm,
    service: BundledService | None,
    prober: Prober,
    state: RunState,
    progress: Progress,
    t0: float,
    controller: chaos.ChaosController | None = None,
) -> None:
    """Follow the run until the master exits; stop it early when something goes wrong."""
    watch = gates.BreachWatch(request.profile.slo, request.profile.gates.abort_window_s)
    total_s = sum(s.duration_s for s in stages)
    waiting_s = request.expect_workers_max_wait_s if plan.distributed else 0.0
    series = summary.TimeseriesBuilder(t0, len(stages))
    deadline = time.monotonic() + total_s + waiting_s + STOP_GRACE_S + 60.0
    while not swarm.master_exited():
        try:
            time.sleep(0.5)
            now_s = time.time() - t0
            for line in swarm.read_live():
                state.live.append(line)
                record = series.add(line, prober.snapshot())
                progress.update(record, len(line.get("workers", [])) if plan.distributed else None)
                for worker_id, how in line.get("lost_workers", {}).items():
                    reason = f"load-generator worker {worker_id} {how.split(' at ')[0]}"
                    if reason not in state.reasons:
                        state.incomplete(reason)
                        progress.note(f"! {reason}")
                if request.abort_on_breach and state.aborted_on_breach is None:
                    breach = watch.observe(record)
                    if breach:
                        state.aborted_on_breach = breach
                        progress.note(f"! aborting on a sustained breach: {breach}")
                        swarm.request_stop(f"abort on breach: {breach}")
            finishing = bool(state.live and state.live[-1].get("finishing"))
            load_s = _load_seconds(state)
            if controller is not None and load_s is not None and not finishing:
                before = len(controller.events)
                controller.tick(load_s)
                for event in controller.events[before:]:
                    progress.note(f"chaos t+{event.at_s:.0f} s: {event.action}: {event.detail}")
            if state.live and not finishing:  # not while Locust imports or winds down
                swarm.sample_cpu()
            for role, pid, code, _wall in swarm.check_workers():
                if not finishing:
                    progress.note(
                        f"! load-generator {role} (pid {pid}) exited with code {code} "
                        f"at t={now_s:.1f} s while the test ran"
                    )
            if service is not None and not service.alive() and not _has(state, "the service"):
                died_with = service.process.returncode if service.process is not None else "unknown"
                state.incomplete(f"the service exited with code {died_with} at t={now_s:.1f} s")
                progress.note(f"! {state.reasons[-1]}; stopping the load")
                swarm.request_stop("the service died")
            down = service is None and prober.consecutive_failures() >= DOWN_AFTER_PROBES
            if down and not _has(state, "stopped answering"):
                state.incomplete(f"the target stopped answering /health at t={now_s:.1f} s")
                progress.note(f"! {state.reasons[-1]}; stopping the load")
                swarm.request_stop("the target stopped answering")
            if time.monotonic() > deadline:
                state.incomplete("the load generator did not finish in time and was stopped")
                swarm.request_stop("deadline")
                deadline = float("inf")
            swarm.escalate_if_stuck(STOP_GRACE_S)
            if INTERRUPTS.count and not state.interrupted:
                state.interrupted = True
                state.incomplete(f"interrupted (Ctrl-C) at t={time.time() - t0:.1f} s")
                progress.note(
                    "! interrupted: stopping the load and writing what was measured "
                    "(Ctrl-C again to stop waiting)"
                )
                swarm.request_stop("interrupted")
                if not state.live and swarm.master is not None:  # not started: nothing to save
                    swarm.master.signal(signal.SIGTERM)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for graceful ends
            state.incomplete("interrupted twice: the load generator was killed")
            swarm.kill()
            break
    for line in swarm.read_live():
        state.live.append(line)
        series.add(line, prober.snapshot())
    state.timeseries = series.records


def _has(state: RunState, fragment: str) -> bool:
    return any(fragment in reason for reason in state.reasons)


def redirect_logging() -> None:
    """Quiet library loggers that would interleave with the live display."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.suppress(Exception):
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
