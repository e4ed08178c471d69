"""One chaos run's fault from its checks to its judgement: what ``harness run`` calls.

The orchestration (harness/run/orchestrate.py) knows nothing of injectors or proxies; it asks
a :class:`ChaosSession`, in this order::

    ChaosSession.check(request)          refuse a setup the fault cannot act on (exit 2)
    ChaosSession.planned_for(request)    the scenario's fault, or None for an ordinary run
    session.route_database(url)          the URL the bundled service uses (via the proxy: db)
    session.arm(service, kill_worker, direct_url)   the injector and the timeline, once
                                         the service and the swarm exist
    session.tick(load_s)                 twice a second while the load runs: lines to show
    session.end_fault(load_s)            when the load stops: heal what is still broken
    session.judge(...)                   after the load: drain, then the chaos section + gates
    session.stop()                       always: the proxy, if one was started
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from harness.errors import UsageError
from harness.run.chaos import controller as timeline
from harness.run.chaos import injectors, recovery
from harness.run.run_request import RunRequest
from models.profile import Fault
from models.run_records import ChaosResult, SloResult

if TYPE_CHECKING:
    from harness.run.lab_target import LabService
    from harness.run.service import BundledService


def _refusal(request: RunRequest, fault: Fault) -> str | None:
    """Why the run's setup cannot carry ``fault``, or None when it can."""
    name = request.scenario
    if fault.kind != "loadgen" and request.host is not None:
        return f"{name} injects its fault into the bundled service; run it without --host"
    if fault.kind == "db" and not (request.database_url or "").startswith("postgresql"):
        return (
            f"{name} puts the fault proxy on the PostgreSQL path: give --database-url "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        )
    if fault.kind == "worker" and request.service_workers < 2:
        return (
            f"{name} kills one service worker mid-run: give --service-workers 2 or more "
            f"(got {request.service_workers})"
        )
    if fault.kind == "instance" and (request.lab is None or request.lab.instances < 2):
        got = 0 if request.lab is None else request.lab.instances
        return (
            f"{name} kills one lab instance mid-run: give --instances 2 or more (got {got}), "
            "or --lab"
        )
    if fault.kind == "replica" and (request.lab is None or request.lab.read_replicas < 1):
        got = 0 if request.lab is None else request.lab.read_replicas
        return (
            f"{name} stops one of the lab's read replicas mid-run: give --instances K "
            f"--read-replicas 1 or more (got {got}) with a PostgreSQL --database-url, or --lab"
        )
    if fault.kind == "cache" and (request.lab is None or not request.lab.cache):
        return f"{name} kills the lab's cache Redis mid-run: give --instances K --cache, or --lab"
    if fault.kind == "loadgen" and request.workers < 1:
        return (
            f"{name} kills one local Locust worker mid-run: give --workers 1 or more "
            f"(got {request.workers})"
        )
    return None


def _lab_injector(kind: str, lab: LabService) -> injectors.Injector:
    """The injector of a fault in one of the lab's parts."""
    if kind == "instance":
        return injectors.InstanceKill(lab.kill_instance, lab.instance_status)
    if kind == "replica":
        database = lab.postgres
        assert database is not None and database.replicas  # check(): --read-replicas
        name = database.replicas[0].name
        return injectors.LabPartDown(
            name, "replica", database.crash_replica, database.restart_replica,
            lambda: database.streaming(name), lab.breaker_states,
        )  # fmt: skip
    cache = lab.cache_redis
    assert cache is not None  # check(): --cache
    return injectors.LabPartDown(
        "cache redis", "cache", cache.kill, cache.restart, cache.ready, lab.breaker_states
    )


class ChaosSession:
    """The scenario's fault, its times scaled like the stages, through one run."""

    def __init__(self, request: RunRequest, planned: Fault) -> None:
        self.request = request
        self.fault = timeline.scaled(planned, request.duration_scale)
        self.controller: timeline.ChaosController | None = None
        self._proxy: injectors.DatabaseProxy | None = None

    @staticmethod
    def check(request: RunRequest) -> None:
        """A chaos scenario needs the parts its fault acts on; UsageError says which is
        missing."""
        planned = request.profile.scenarios[request.scenario].fault
        refusal = None if planned is None else _refusal(request, planned)
        if refusal is not None:
            raise UsageError(refusal)

    @classmethod
    def planned_for(cls, request: RunRequest) -> ChaosSession | None:
        """The session of the request's scenario; None when the scenario injects no fault."""
        planned = request.profile.scenarios[request.scenario].fault
        return None if planned is None else cls(request, planned)

    def route_database(self, database_url: str | None) -> str | None:
        """The URL the bundled service connects with: for a ``db`` fault, through a fault proxy
        started in front of ``database_url``'s server.

        Only the service goes through the proxy; the integrity audit and the drain check keep
        the direct URL, so they read the truth whatever the proxy is doing.
        """
        if self.fault.kind != "db" or not database_url:
            return database_url
        url = make_url(database_url)
        self._proxy = injectors.DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
        port = self._proxy.start()
        return url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)

    def arm(
        self,
        service: BundledService | None,
        kill_load_worker: Callable[[], int],
        database_url: str | None,
    ) -> str:
        """Build the injector the fault's kind needs and its timeline; returns the line that
        announces the fault. ``database_url`` (direct, never the proxy's) lets the timeline
        read the backlog while the fault lasts."""
        controller = timeline.ChaosController(self.fault, self._injector(service, kill_load_worker))
        if database_url:
            direct = database_url
            controller.backlog = lambda: recovery.pending(direct)
        self.controller = controller
        return timeline.describe(self.fault)

    def _injector(
        self, service: BundledService | None, kill_load_worker: Callable[[], int]
    ) -> injectors.Injector:
        kind = self.fault.kind
        if kind == "loadgen":
            return injectors.LoadgenWorkerKill(kill_load_worker)
        if kind in ("instance", "replica", "cache"):
            from harness.run.lab_target import LabService

            assert isinstance(service, LabService)  # check(): the lab runs
            return _lab_injector(kind, service)
        assert service is not None and service.process is not None  # check(): no --host
        admin = injectors.AdminFaults(
            service.url,
            str(service.config.admin_token),
            injectors.ADMIN_DEPENDENCIES.get(kind, ("database",)),
        )
        if kind == "db":
            assert self._proxy is not None  # route_database() started it
            return injectors.DatabaseFaults(self._proxy, admin)
        if kind == "worker":
            return injectors.ServiceWorkerKill(service.process.pid, self.request.service_workers)
        return admin

    def tick(self, load_s: float) -> list[str]:
        """Do what is due ``load_s`` seconds into the load; the lines to show for what it did."""
        if self.controller is None:
            return []
        done = len(self.controller.events)
        self.controller.tick(load_s)
        return [
            f"chaos t+{event.at_s:.0f} s: {event.action}: {event.detail}"
            for event in self.controller.events[done:]
        ]

    def end_fault(self, load_s: float) -> None:
        """The load has stopped: heal a fault it outran."""
        if self.controller is not None:
            self.controller.close(load_s)

    def judge(
        self,
        live: Sequence[Mapping[str, Any]],
        load_started_wall: float | None,
        incomplete_reasons: Sequence[str],
        drain_url: str | None,
        note: Callable[[str], None],
    ) -> tuple[ChaosResult, list[SloResult]]:
        """After the load: wait for the backlog to drain (when ``drain_url`` can be read, the
        service still running), then the ``chaos`` section and its gates."""
        assert self.controller is not None  # arm() comes first
        drain = None
        if drain_url:
            note(f"chaos: waiting up to {self.fault.drain_s:g} s for the outbox")
            drain = recovery.wait_drained(drain_url, self.fault.drain_s)
        section, gates = recovery.assess(
            self.controller, live, load_started_wall, drain, incomplete_reasons
        )
        for gate in gates:
            verdict = "ok" if gate.passed else "FAILED"
            note(f"chaos: {gate.name} = {gate.measured} (target {gate.target}) {verdict}")
        return section, gates

    def stop(self) -> None:
        """Stop the fault proxy, if this session started one."""
        if self._proxy is not None:
            self._proxy.stop()
