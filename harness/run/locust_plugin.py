"""The harness's side of a Locust run: loaded as a second locustfile next to the journeys.

``harness run`` starts ``python -m locust -f journeys/locustfile.py,harness/run/locust_plugin.py``;
this file adds no users, only listeners, and talks to the harness through files named in
environment variables (so nothing of gevent ever runs in the harness process)::

    HARNESS_LIVE      JSONL, one line per window from the master: users, workers, cumulative
                      API requests and failures, the window's p50/p95, CPU of every process
    HARNESS_CONTROL   a file the harness writes "stop <reason>" into (Ctrl-C, --abort-on-breach)
    HARNESS_FINAL     JSON written when Locust quits: failures with first/last seen, workers
                      that went missing or never sent a final report, the persona mix
    HARNESS_WINDOW_S  the window length (default 2 s)

The end of a run, done carefully so that the client counts match the server's exactly: when
the shape has run its last stage (or the harness asks to stop), the users are stopped with
Locust's ``--stop-timeout`` honoured (each user finishes the screen it is in, so no request is
cut off after the service counted it). In a distributed run the master ramps to zero users
instead of stopping (a stopped worker is dropped from the master's list for --stop-timeout
seconds), then waits until every worker has sent a report after that (its last samples and
histograms), and only then lets the shape end the test, which quits. A worker that does not
report in time is named in ``HARNESS_FINAL``. (The journeys' shapes end a distributed run with
a fixed 4-s drain at 0 users for plain Locust, which quits without waiting; under this plugin
that drain is skipped, since the wait for the reports replaces it.)

Live windows come from Locust's own statistics (2-digit buckets, good enough to watch and to
evaluate alert rules); the run's percentiles come from the journeys' HDR histograms.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

PAGE = "PAGE"
FINAL_REPORT_WAIT_S = 3 * WORKER_REPORT_INTERVAL + 2.0


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


class _Tracker:
    """State of the master's bookkeeping (one per process)."""

    def __init__(self) -> None:
        self.live_path = _env_path("HARNESS_LIVE")
        self.control_path = _env_path("HARNESS_CONTROL")
        self.final_path = _env_path("HARNESS_FINAL")
        self.window_s = float(os.environ.get("HARNESS_WINDOW_S", "2.0"))
        self.stop_reason: str | None = None
        self.finishing = False
        self.finished_at: float | None = None
        self.test_started_at: float | None = None
        # process-wide CPU seconds when the test started (see _run_average_cpu)
        self.cpu_at_start: float | None = None
        self.seen_workers: dict[str, float] = {}
        self.last_report: dict[str, float] = {}
        self.lost_workers: dict[str, str] = {}
        self.missing_final: list[str] = []
        self.peak_users = 0
        self.peak_classes: dict[str, int] = {}
        self.first_seen: dict[str, float] = {}
        self.last_seen: dict[str, float] = {}
        self.last_occurrences: dict[str, int] = {}
        self.previous_buckets: dict[int, int] = {}
        self.cpu_max = 0.0
        self.stages_end_reached = False


TRACKER = _Tracker()


def _append(path: Path | None, record: dict[str, Any]) -> None:
    if path is None:
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _runner(environment: Environment) -> Any:
    """The environment's runner (always set once Locust runs our listeners)."""
    return environment.runner


# --- Live windows (master or single process) -------------------------------------------------


def _api_totals(environment: Environment) -> tuple[int, int, dict[int, int]]:
    """Cumulative API requests, failures and response-time buckets (PAGE samples excluded)."""
    requests = failures = 0
    buckets: dict[int, int] = {}
    for (_name, method), entry in _runner(environment).stats.entries.items():
        if method == PAGE:
            continue
        requests += entry.num_requests
        failures += entry.num_failures
        for value, count in entry.response_times.items():
            buckets[value] = buckets.get(value, 0) + count
    return requests, failures, buckets


def _percentile(buckets: dict[int, int], fraction: float) -> float | None:
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = fraction * total
    running = 0
    for value in sorted(buckets):
        running += buckets[value]
        if running >= rank:
            return float(value)
    return float(max(buckets))


def _workers(environment: Environment) -> list[dict[str, Any]]:
    runner = _runner(environment)
    if not isinstance(runner, MasterRunner):
        return []
    return [
        {
            "id": client.id,
            "state": client.state,
            "cpu": client.cpu_usage / 100.0,
            "users": sum(client.user_classes_count.values()),
        }
        for client in runner.clients.all
    ]


def _user_classes(environment: Environment) -> dict[str, int]:
    runner = _runner(environment)
    if isinstance(runner, MasterRunner):
        return dict(runner.reported_user_classes_count)
    return dict(runner.user_classes_count)


def _shape_stage(environment: Environment) -> int | None:
    """The stage of the shape's last tick (journeys' ``StagedShape.current_stage``)."""
    stage = getattr(environment.shape_class, "current_stage", None)
    return int(stage) if isinstance(stage, int) and stage >= 0 else None


def _track_failures(environment: Environment, now: float) -> None:
    for key, error in _runner(environment).stats.errors.items():
        if error.occurrences > TRACKER.last_occurrences.get(key, 0):
            TRACKER.first_seen.setdefault(key, now)
            TRACKER.last_seen[key] = now
            TRACKER.last_occurrences[key] = error.occurrences


def _track_workers(environment: Environment, now: float) -> None:
    """Workers that left while the test ran: gone from the client list, or heartbeat missing."""
    runner = _runner(environment)
    if not isinstance(runner, MasterRunner) or TRACKER.finishing:
        return
    present = {client.id: client for client in runner.clients.all}
    for worker_id in TRACKER.seen_workers:
        if worker_id in TRACKER.lost_workers:
            continue
        client = present.get(worker_id)
        if client is None:
            TRACKER.lost_workers[worker_id] = f"left the swarm at {now:.3f}"
        elif client.state == STATE_MISSING:
            TRACKER.lost_workers[worker_id] = f"stopped sending heartbeats at {now:.3f}"


def _live_loop(environment: Environment) -> None:
    previous_wall = time.time()
    while True:
        gevent.sleep(TRACKER.window_s)
        now = time.time()
        runner = _runner(environment)
        requests, failures, buckets = _api_totals(environment)
        window = {
            value: count - TRACKER.previous_buckets.get(value, 0)
            for value, count in buckets.items()
        }
        window = {value: count for value, count in window.items() if count > 0}
        TRACKER.previous_buckets = buckets
        workers = _workers(environment)
        cpu = max([runner.current_cpu_usage / 100.0] + [w["cpu"] for w in workers])
        TRACKER.cpu_max = max(TRACKER.cpu_max, cpu)
        users = runner.user_count
        if users > TRACKER.peak_users:
            TRACKER.peak_users = users
            TRACKER.peak_classes = _user_classes(environment)
        _track_failures(environment, now)
        _track_workers(environment, now)
        _append(
            TRACKER.live_path,
            {
                "wall": now,
                "elapsed_s": now - previous_wall,
                "state": runner.state,
                "users": users,
                "stage": _shape_stage(environment),
                "requests": requests,
                "failures": failures,
                "p50_ms": _percentile(window, 0.50),
                "p95_ms": _percentile(window, 0.95),
                "master_cpu": runner.current_cpu_usage / 100.0,
                "workers": workers,
                "lost_workers": dict(TRACKER.lost_workers),
                "test_started_at": TRACKER.test_started_at,
                "finishing": TRACKER.finishing,
            },
        )
        previous_wall = now
        _check_control()


def _check_control() -> None:
    path = TRACKER.control_path
    if TRACKER.stop_reason is None and path is not None and path.exists():
        text = path.read_text(encoding="utf-8").strip()
        if text.startswith("stop"):
            TRACKER.stop_reason = text.removeprefix("stop").strip() or "stop requested"


# --- The careful end (see the module docstring) -----------------------------------------------


def _finish(environment: Environment) -> None:
    """Stop the users, then wait for every worker's report after the stop. Runs once."""
    runner = _runner(environment)
    if not isinstance(runner, MasterRunner):
        TRACKER.finishing = True
        runner.stop()  # in-process: stop_users honours --stop-timeout, stats are local
        TRACKER.finished_at = time.time()
        return
    # Distributed: ramp to zero users rather than runner.stop(). A stopped worker is dropped
    # from the master's list and then sleeps --stop-timeout before it listens again; ramping
    # down keeps it registered and reporting, so its last samples arrive like any others.
    _track_workers(environment, time.time())
    TRACKER.finishing = True
    runner.start(0, spawn_rate=max(10.0 * runner.user_count, 100.0))
    deadline = time.monotonic() + float(environment.stop_timeout or 0.0) + 10.0
    while runner.user_count > 0 and time.monotonic() < deadline:
        gevent.sleep(0.2)
    stopped_at = time.time()
    TRACKER.finished_at = stopped_at
    expected = [w for w in TRACKER.seen_workers if w not in TRACKER.lost_workers]
    deadline = time.monotonic() + FINAL_REPORT_WAIT_S
    while time.monotonic() < deadline:
        if all(TRACKER.last_report.get(w, 0.0) > stopped_at for w in expected):
            break
        gevent.sleep(0.2)
    TRACKER.missing_final = [w for w in expected if TRACKER.last_report.get(w, 0.0) <= stopped_at]


def _stages_over(shape: Any) -> bool:
    """Whether a journeys shape has run its whole stage table (it may still be draining)."""
    try:
        total = shape.total_duration_s
    except (AttributeError, RuntimeError):  # not a journeys shape, or no table yet
        return False
    return isinstance(total, int | float) and float(shape.get_run_time()) >= float(total)


def _wrap_shape(environment: Environment) -> None:
    """Make the shape end the test only after :func:`_finish` (and on a harness stop request)."""
    shape = environment.shape_class
    if shape is None or getattr(shape, "_harness_wrapped", False):
        return
    original = shape.tick

    def tick() -> Any:
        _check_control()
        result = None if TRACKER.stop_reason is not None else original()
        if result is not None and _stages_over(shape):
            # The journeys' shapes end a distributed run with a few seconds at 0 users so that
            # plain Locust's quit() does not lose the workers' last reports. _finish does that
            # job here, waiting only as long as the reports take, so the drain is skipped.
            result = None
        if result is None:
            TRACKER.stages_end_reached = TRACKER.stop_reason is None
            if not TRACKER.finishing:
                _finish(environment)
            return None
        return result

    shape.tick = tick  # type: ignore[method-assign]  # the wrap is the point (module docstring)
    shape._harness_wrapped = True  # type: ignore[attr-defined]


# --- Listeners --------------------------------------------------------------------------------


@events.init.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    if isinstance(_runner(environment), WorkerRunner) or TRACKER.live_path is None:
        return
    _wrap_shape(environment)
    gevent.spawn(_live_loop, environment)


@events.test_start.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    if not isinstance(_runner(environment), WorkerRunner):
        TRACKER.test_started_at = time.time()
        TRACKER.cpu_at_start = time.process_time()
        _wrap_shape(environment)  # the shape instance may be created after init


@events.worker_connect.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _on_worker_connect(client_id: str, **_kwargs: Any) -> None:
    TRACKER.seen_workers.setdefault(client_id, time.time())


@events.worker_report.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    TRACKER.seen_workers.setdefault(client_id, time.time())
    TRACKER.last_report[client_id] = time.time()


def _run_average_cpu(now: float) -> float:
    """This process's CPU use averaged over the whole test, as a fraction of one core.

    Locust's own ``current_cpu_usage`` is a psutil sample taken every 5 s whose first value is
    always 0, so a run of a few seconds can end without one real sample; the average from the
    process's CPU clock is never missing, and a peak can only be above it.
    """
    if TRACKER.test_started_at is None or TRACKER.cpu_at_start is None:
        return 0.0
    wall = now - TRACKER.test_started_at
    if wall <= 0.0:
        return 0.0
    return max(0.0, (time.process_time() - TRACKER.cpu_at_start) / wall)


@events.quitting.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _on_quitting(environment: Environment, **_kwargs: Any) -> None:
    if isinstance(_runner(environment), WorkerRunner) or TRACKER.final_path is None:
        return
    now = time.time()
    _track_failures(environment, now)
    TRACKER.cpu_max = max(TRACKER.cpu_max, _run_average_cpu(now))
    failures = [
        {
            "method": error.method,
            "name": error.name,
            "error": str(error.error),
            "occurrences": error.occurrences,
            "first_seen": TRACKER.first_seen.get(key),
            "last_seen": TRACKER.last_seen.get(key),
        }
        for key, error in _runner(environment).stats.errors.items()
    ]
    final = {
        "wall": now,
        "test_started_at": TRACKER.test_started_at,
        "finished_at": TRACKER.finished_at,
        "stages_completed": TRACKER.stages_end_reached,
        "stop_reason": TRACKER.stop_reason,
        "workers_seen": sorted(TRACKER.seen_workers),
        "lost_workers": TRACKER.lost_workers,
        "missing_final_report": TRACKER.missing_final,
        "peak_users": TRACKER.peak_users,
        "user_classes": TRACKER.peak_classes,
        "cpu_max": TRACKER.cpu_max,
        "failures": failures,
    }
    tmp = TRACKER.final_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(final, indent=1), encoding="utf-8")
    tmp.replace(TRACKER.final_path)
