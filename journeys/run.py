"""One Locust run of the journeys: its settings, its measurements, and the wiring into Locust.

:func:`install` attaches a :class:`JourneyRun` to a Locust ``Environment`` (after its runner is
created). The locustfile does it from Locust's ``init`` event; the harness may call it itself
when it runs Locust in-process. What happens then depends on the process's role::

    local   (one process)   samples -> run.histograms, writes -> write log file
    worker                  samples -> histograms, writes -> buffer; both shipped and cleared
                            with every report_to_master (~3 s), stage changes come from master
    master                  worker_report -> merge histograms, append writes; the shape's
                            stage changes are broadcast to the workers

Completeness: each worker numbers its reports and says when its users have stopped; the master
records gaps and workers whose final report never came (:meth:`JourneyRun.completeness`). A
crashed worker loses up to one report interval of samples; the run is then incomplete, never
silently low.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeys.accounts import AccountPool
from journeys.hdr import HistogramSet
from journeys.settings import JourneySettings, from_options
from journeys.stages import scaled_stages
from journeys.thinktime import ThinkTime
from journeys.writelog import WriteLog, WriteRecord
from models.catalogue import PERSONAS, PersonaName
from models.profile import Profile
from models.workload import step_probabilities

logger = logging.getLogger(__name__)

STAGE_MESSAGE = "journeys_stage"
REPORT_KEY = "journeys"
HDR_FILE_VERSION = 1

_RUNS: weakref.WeakKeyDictionary[Any, JourneyRun] = weakref.WeakKeyDictionary()


@dataclass(slots=True)
class WorkerTally:
    """What the master has received from one worker."""

    index: int = -1
    reports: int = 0
    last_seq: int = -1
    gaps: int = 0
    samples: int = 0
    stopped: bool = False


@dataclass(slots=True)
class _Reporter:
    """Worker side of the report channel."""

    seq: int = 0
    stopped: bool = False
    recorded_since_report: int = 0


@dataclass
class JourneyRun:
    """Settings, derived workload and measurements of one run (one per Locust Environment)."""

    settings: JourneySettings
    profile: Profile
    role: str  # "local", "master" or "worker"
    histograms: HistogramSet = field(default_factory=HistogramSet)
    stage: int = 0
    """The stage samples are labelled with (the shape's index; 0 without a shape)."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Screens drawn but not possible yet (e.g. no job seen to bid on), by ``persona.step``."""
    workers: dict[str, WorkerTally] = field(default_factory=dict)
    own_users: bool = False
    """The users are someone else's (``harness run --locustfile``): only the measurement
    (histograms, stages, the report channel) is ours; no personas, accounts or writes."""

    def __post_init__(self) -> None:
        self._reporter = _Reporter()
        self._user_counter = 0
        self._trace_lock = threading.Lock()
        self.worker_index = 0
        self.stride = 1
        self.live_users: Callable[[], int] = lambda: sum(p.live for p in self.pools.values())
        """Users running in this process (Locust's count once installed on a runner)."""
        self._derive()

    def reconfigure(self, settings: JourneySettings) -> None:
        """Adopt new settings (a worker gets the master's options only when a test starts)."""
        if settings == self.settings:
            return
        self.settings = settings
        self.profile = settings.load_profile()
        self._derive()

    def _derive(self) -> None:
        self.steps: dict[PersonaName, tuple[list[str], list[float]]] = {}
        self.think: dict[PersonaName, ThinkTime] = {}
        self.write_log = WriteLog(self.settings.write_log_path, ship=self.role == "worker")
        if self.own_users:
            self.pools: dict[PersonaName, AccountPool] = {}
            return
        for persona, spec in self.profile.personas.marketplace():
            probabilities = step_probabilities(self.profile, persona)
            names = [name for name, p in probabilities.items() if p > 0]
            self.steps[persona] = (names, [probabilities[n] for n in names])
            mode = self.settings.think
            distribution = spec.think_time_distribution if mode == "profile" else mode
            self.think[persona] = ThinkTime(
                distribution, spec.think_time_s * self.settings.think_scale
            )
        counts = self.settings.account_counts(self.profile)
        self.pools = {persona: AccountPool(persona, counts[persona]) for persona in PERSONAS}
        self.place_in_swarm(self.worker_index, self.stride)
        if self.settings.trace_path is not None:
            self.settings.trace_path.parent.mkdir(parents=True, exist_ok=True)

    # --- used by the users ----------------------------------------------------------------

    def user_rng(self) -> random.Random:
        """A random generator per simulated user: reproducible under ``JOURNEYS_SEED``."""
        self._user_counter += 1
        if self.settings.seed is None:
            return random.Random()
        return random.Random(f"{self.settings.seed}:{self.worker_index}:{self._user_counter}")

    def record(
        self, method: str, name: str, response_time_ms: float, *, failed: bool, rate_limited: bool
    ) -> None:
        self.histograms.record(
            self.stage, method, name, response_time_ms, failed=failed, rate_limited=rate_limited
        )
        self._reporter.recorded_since_report += 1

    def log_write(self, record: WriteRecord) -> None:
        self.write_log.append(record)

    def trace(self, entry: dict[str, Any]) -> None:
        path = self.settings.trace_path
        if path is None:
            return
        line = json.dumps({**entry, "stage": self.stage, "worker": self.worker_index}) + "\n"
        with self._trace_lock, path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def place_in_swarm(self, worker_index: int, stride: int) -> None:
        """This process's worker index and the number of indexes handed out (account slots)."""
        if stride <= worker_index:
            logger.warning("journeys: worker index %d >= stride %d; accounts may be shared",
                           worker_index, stride)  # fmt: skip
            stride = worker_index + 1
        self.worker_index, self.stride = worker_index, stride
        for pool in self.pools.values():
            if pool.live == 0:
                pool.configure(worker_index, stride)

    # --- stage ----------------------------------------------------------------------------

    def set_stage(self, index: int) -> None:
        self.stage = index

    # --- reports (worker -> master) -------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The payload a worker adds to its report; clears what it ships."""
        payload = {
            "seq": self._reporter.seq,
            "worker_index": self.worker_index,
            "hdr": self.histograms.encode(),
            "samples": self._reporter.recorded_since_report,
            "writes": self.write_log.drain(),
            "skipped": dict(self.skipped),
            # Final when the test stopped or this worker has no users left (a shape's drain).
            "stopped": self._reporter.stopped or self.live_users() == 0,
        }
        self._reporter.seq += 1
        self._reporter.recorded_since_report = 0
        self.histograms.clear()
        self.skipped.clear()
        return payload

    def receive(self, client_id: str, payload: dict[str, Any]) -> None:
        """Master: merge one worker's report."""
        tally = self.workers.setdefault(client_id, WorkerTally())
        seq = int(payload["seq"])
        if seq <= tally.last_seq:
            logger.warning("journeys: duplicate report %d from %s ignored", seq, client_id)
            return
        tally.gaps += seq - tally.last_seq - 1
        tally.last_seq = seq
        tally.index = int(payload.get("worker_index", -1))
        tally.reports += 1
        tally.samples += int(payload.get("samples", 0))
        tally.stopped = bool(payload.get("stopped"))
        self.histograms.merge(HistogramSet.decode(payload["hdr"]))
        self.write_log.add_many(WriteRecord.from_json(w) for w in payload.get("writes", []))
        self.skipped.update(payload.get("skipped", {}))

    def completeness(self) -> dict[str, Any]:
        """Whether every worker's samples arrived: ``{"complete": bool, "reasons": [...]}``."""
        reasons = []
        for client_id, tally in sorted(self.workers.items()):
            if tally.gaps:
                reasons.append(f"worker {tally.index} ({client_id}): {tally.gaps} report(s) lost")
            if not tally.stopped:
                reasons.append(f"worker {tally.index} ({client_id}): no final report")
        return {
            "complete": not reasons,
            "reasons": reasons,
            "workers": {cid: _tally_json(t) for cid, t in sorted(self.workers.items())},
        }

    # --- the end --------------------------------------------------------------------------

    def save_histograms(self, path: Path | None = None) -> Path | None:
        """Write the (merged) histograms and completeness as JSON; returns the path written."""
        path = path or self.settings.hdr_out_path
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "version": HDR_FILE_VERSION,
            "written_at": time.time(),
            "role": self.role,
            "histograms": self.histograms.encode(),
            "completeness": self.completeness(),
            "skipped": dict(self.skipped),
            "writes": self.write_log.count,
        }
        path.write_text(json.dumps(document), encoding="utf-8")
        return path


def _tally_json(t: WorkerTally) -> dict[str, Any]:
    return {"index": t.index, "reports": t.reports, "gaps": t.gaps, "samples": t.samples,
            "stopped": t.stopped}  # fmt: skip


def read_histograms(path: Path) -> tuple[HistogramSet, dict[str, Any]]:
    """The histograms and metadata (completeness, skipped, writes) of a ``--journeys-hdr-out``."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("version") != HDR_FILE_VERSION:
        raise ValueError(f"{path}: histogram file version {document.get('version')!r}, "
                         f"expected {HDR_FILE_VERSION}")  # fmt: skip
    meta = {k: v for k, v in document.items() if k != "histograms"}
    return HistogramSet.decode(document["histograms"]), meta


def run_for(environment: Any) -> JourneyRun:
    """The run installed on ``environment``; a clear error when nobody installed one."""
    try:
        return _RUNS[environment]
    except KeyError:
        raise RuntimeError(
            "the journeys are not installed on this Locust environment: use "
            "journeys/locustfile.py, or call journeys.install(environment, settings) after "
            "creating the runner"
        ) from None


def install(
    environment: Any, settings: JourneySettings | None = None, *, own_users: bool = False
) -> JourneyRun:
    """Attach the journeys to ``environment`` (its runner must exist). Idempotent per env.

    ``own_users``: the user classes are not the journeys' (:attr:`JourneyRun.own_users`)."""
    if environment in _RUNS:
        return _RUNS[environment]
    runner = environment.runner
    if runner is None:
        raise RuntimeError("journeys.install: create the Locust runner first")
    from locust.runners import MasterRunner, WorkerRunner

    from journeys.shapes import StagedShape

    role = "master" if isinstance(runner, MasterRunner) else "worker"
    if not isinstance(runner, MasterRunner | WorkerRunner):
        role = "local"
    settings = settings or from_options(environment.parsed_options)
    run = JourneyRun(
        settings=settings, profile=settings.load_profile(), role=role, own_users=own_users
    )
    _RUNS[environment] = run
    events = environment.events

    shape = environment.shape_class
    if isinstance(shape, StagedShape):
        if not shape.configured:
            shape.configure(
                scaled_stages(run.profile, shape.scenario, settings.scale, settings.time_scale)
            )
        shape.listeners.append(run.set_stage)
        if role == "master":
            shape.listeners.append(lambda index: _broadcast_stage(environment, run, index))

    if role != "master":
        events.request.add_listener(_request_listener(run))
    if role == "worker":
        _install_worker(environment, run)
    if role == "master":
        events.worker_report.add_listener(
            lambda client_id, data, **_: (
                run.receive(client_id, data[REPORT_KEY]) if REPORT_KEY in data else None
            )
        )
        events.test_start.add_listener(lambda **_: _broadcast_stage(environment, run, run.stage))
    if role != "worker":
        events.quit.add_listener(lambda **_: run.save_histograms())
        events.test_stop.add_listener(lambda **_: run.save_histograms())
    return run


def _request_listener(run: JourneyRun) -> Any:
    from journeys.checks import RateLimited

    def on_request(
        request_type: str,
        name: str,
        response_time: float | None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        run.record(
            request_type,
            name,
            response_time or 0.0,
            failed=exception is not None,
            rate_limited=isinstance(exception, RateLimited),
        )

    return on_request


def _install_worker(environment: Any, run: JourneyRun) -> None:
    runner = environment.runner
    events = environment.events

    def on_stage(environment: Any, msg: Any, **_: Any) -> None:
        run.set_stage(int(msg.data["stage"]))
        run.place_in_swarm(max(runner.worker_index, 0), int(msg.data["stride"]))

    def on_test_start(**_: Any) -> None:
        # The master's --journeys-* options arrive with the first spawn message, just before
        # this event: adopt them (the worker's own command line may have had none).
        if all(pool.live == 0 for pool in run.pools.values()):
            pending = run.write_log.drain()
            run.reconfigure(from_options(environment.parsed_options))
            run.write_log.add_many(WriteRecord.from_json(w) for w in pending)
        run._reporter.stopped = False

    def on_test_stop(**_: Any) -> None:
        run._reporter.stopped = True

    run.live_users = lambda: int(runner.user_count)
    runner.register_message(STAGE_MESSAGE, on_stage)
    events.test_start.add_listener(on_test_start)
    events.test_stop.add_listener(on_test_stop)
    events.report_to_master.add_listener(
        lambda client_id, data, **_: data.__setitem__(REPORT_KEY, run.report())
    )


def _broadcast_stage(environment: Any, run: JourneyRun, index: int) -> None:
    runner = environment.runner
    stride = max(int(getattr(runner, "worker_index_max", 1)), 1)
    runner.send_message(STAGE_MESSAGE, {"stage": max(index, 0), "stride": stride})
