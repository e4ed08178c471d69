"""The faults a chaos scenario can inject, one injector per kind::

    db        PostgreSQL through the TCP fault proxy: +latency for the first half of the
              fault, then every connection reset (RST) for the second half
    payments  /admin/faults/payments: every call fails (the breaker opens, awards go
              payment-pending, the settler retries them after)
    notify    /admin/faults/sms and /email: every call fails (the outbox keeps everything)
    worker    SIGKILL one uvicorn worker process (the supervisor starts a new one)
    instance  SIGKILL one lab instance: HAProxy takes it out
    replica   crash one of the lab's read replicas (``pg_ctl stop -m immediate``), start it
              again at the heal: reads fall back to the primary through the ``replica`` breaker
    cache     SIGKILL the lab's cache Redis, start it again (empty) on its port at the heal:
              reads go to the database through the ``cache`` breaker
    loadgen   SIGKILL one local Locust worker: the run must end marked incomplete

Each says how to cause its fault, escalate it half-way, end it, and tell that the service is
whole again (:class:`Injector`); :mod:`harness.run.chaos.controller` decides when.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from harness.run.chaos.fault_proxy import FaultProxy

#: Which fake dependencies each admin-API fault takes down.
ADMIN_DEPENDENCIES: Mapping[str, tuple[str, ...]] = {
    "payments": ("payments",),
    "notify": ("sms", "email"),
}
#: Extra latency per chunk on the database path during the first half of a ``db`` fault.
DB_FAULT_LATENCY_S = 0.2

Details = dict[str, object]
"""What an injector saw, for the ``details`` of run.json's ``chaos`` section."""


class Injector(Protocol):
    """One kind of fault: how to cause it, end it, and tell that the service is whole again."""

    def inject(self) -> str: ...
    def midpoint(self) -> str | None: ...
    def heal(self) -> str: ...
    def recovered(self) -> bool: ...
    def observe(self) -> None: ...
    def details(self) -> Details: ...


def _breakers_seen(states: Mapping[str, set[str]]) -> Details:
    """The breaker states an injector saw while the fault lasted, and whether one opened."""
    return {
        "breaker_states_seen": {name: sorted(seen) for name, seen in states.items()},
        "breaker_opened": any("open" in seen for seen in states.values()),
    }


@dataclass
class AdminFaults:
    """Fake dependencies taken down through the service's ``/admin/faults`` API."""

    base_url: str
    admin_token: str
    dependencies: tuple[str, ...]
    breaker_states: dict[str, set[str]] = field(default_factory=dict)

    def _call(self, method: str, path: str, body: Mapping[str, object] | None = None) -> Any:
        """The admin API's JSON answer (docs/resilience.md, "Injecting a fault")."""
        response = httpx.request(
            method,
            f"{self.base_url}/admin/faults{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=5.0,
        )
        response.raise_for_status()
        return response.json()

    def inject(self) -> str:
        for dependency in self.dependencies:
            self._call("PUT", f"/{dependency}", {"error_rate": 1.0})
        return f"{', '.join(self.dependencies)}: every call fails"

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        for dependency in self.dependencies:
            self._call("DELETE", f"/{dependency}")
        return f"{', '.join(self.dependencies)}: healthy"

    def _breakers(self) -> dict[str, str]:
        breakers = self._call("GET", "")["breakers"]
        return {name: str(breakers[name]["state"]) for name in self.dependencies}

    def observe(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            for name, state in self._breakers().items():
                self.breaker_states.setdefault(name, set()).add(state)

    def recovered(self) -> bool:
        try:
            return all(state == "closed" for state in self._breakers().values())
        except httpx.HTTPError:
            return False

    def details(self) -> Details:
        return {"dependencies": list(self.dependencies), **_breakers_seen(self.breaker_states)}


class DatabaseProxy:
    """The TCP fault proxy (:mod:`harness.run.chaos.fault_proxy`) on a thread of its own."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        # Imported here, not at the top: `python -m harness.run.chaos.fault_proxy` runs that
        # module as __main__, and the package importing it first would load it twice.
        from harness.run.chaos.fault_proxy import FaultProxy

        self.proxy: FaultProxy = FaultProxy(upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy")
        self._thread.daemon = True

    def start(self) -> int:
        """Start listening; returns the loopback port to connect to instead of the upstream."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10.0)
        return int(self.proxy.port)

    def run(self, action: Callable[[], object]) -> object:
        """Run ``action`` on the proxy's loop (its state is not thread-safe)."""

        async def call() -> object:
            return action()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10.0)

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(10.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()


@dataclass
class DatabaseFaults:
    """Latency, then connection resets, on the service's path to PostgreSQL."""

    proxy: DatabaseProxy
    admin: AdminFaults
    """Reads the database breaker's state (no fake dependency is touched)."""

    def inject(self) -> str:
        self.proxy.run(lambda: self.proxy.proxy.set_latency(DB_FAULT_LATENCY_S))
        return f"database path: +{DB_FAULT_LATENCY_S * 1000:g} ms per chunk"

    def midpoint(self) -> str | None:
        def resets() -> int:
            proxy = self.proxy.proxy
            proxy.set_latency(0.0)
            open_now = int(proxy.open_connections)
            proxy.set_reset_peer(True)  # resets the open ones, then every new one
            return open_now

        reset = self.proxy.run(resets)
        return f"database path: {reset} connections reset, every new one refused with RST"

    def heal(self) -> str:
        self.proxy.run(self.proxy.proxy.clear)
        return "database path: healthy"

    def observe(self) -> None:
        self.admin.observe()

    def recovered(self) -> bool:
        return self.admin.recovered()

    def details(self) -> Details:
        return {"latency_s": DB_FAULT_LATENCY_S, **_breakers_seen(self.admin.breaker_states)}


def worker_pids(supervisor_pid: int) -> list[int]:
    """The uvicorn supervisor's worker processes (spawned children; not its resource tracker)."""
    import psutil

    found = []
    try:
        children = psutil.Process(supervisor_pid).children()
    except psutil.Error:
        return []
    for child in children:
        try:
            if child.is_running() and "--multiprocessing-fork" in child.cmdline():
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


@dataclass
class ServiceWorkerKill:
    """SIGKILL one of the service's worker processes; whole again when a new one runs."""

    supervisor_pid: int
    workers: int
    killed: int | None = None
    replaced_by: list[int] = field(default_factory=list)

    def inject(self) -> str:
        children = worker_pids(self.supervisor_pid)
        if not children:
            raise RuntimeError(
                f"the service (pid {self.supervisor_pid}) has no worker process to kill"
            )
        self.killed = children[0]
        os.kill(self.killed, signal.SIGKILL)
        return f"service worker pid {self.killed} killed (SIGKILL)"

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        return ""  # nothing to undo: the supervisor replaces the worker

    def observe(self) -> None:
        return None

    def recovered(self) -> bool:
        alive = [pid for pid in worker_pids(self.supervisor_pid) if pid != self.killed]
        self.replaced_by = alive
        return len(alive) >= self.workers

    def details(self) -> Details:
        return {"killed_pid": self.killed, "workers_after": self.replaced_by}


@dataclass
class InstanceKill:
    """SIGKILL one lab instance (a crashed VM); whole again once the load balancer has taken
    it out (its health checks failed ``fall`` times), so no request is sent to it any more."""

    kill: Callable[[], str]
    status: Callable[[], str]
    """HAProxy's status of the instance killed (``UP``, ``UP 1/2``, ``DOWN``...)."""
    killed: str | None = None
    statuses_seen: list[str] = field(default_factory=list)

    def inject(self) -> str:
        self.killed = self.kill()
        return self.killed

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        return ""  # a dead instance is not restarted: the balancer routes around it

    def observe(self) -> None:
        status = self.status()
        if not self.statuses_seen or self.statuses_seen[-1] != status:
            self.statuses_seen.append(status)

    def recovered(self) -> bool:
        return bool(self.statuses_seen) and self.statuses_seen[-1].startswith("DOWN")

    def details(self) -> Details:
        return {"killed": self.killed, "balancer_statuses_seen": list(self.statuses_seen)}


@dataclass
class LabPartDown:
    """A part of the lab the service reads through a breaker (a replica, the cache's Redis),
    stopped at the injection and started again at the heal. Whole again once the part answers
    and the part's breaker is closed on every instance: the instances use it again."""

    part: str
    breaker: str
    """The breaker on every instance that routes around the part (``replica``, ``cache``)."""
    stop: Callable[[], str]
    start: Callable[[], str]
    answers: Callable[[], bool]
    """The part serves again (the replica streams, Redis answers PING)."""
    breakers: Callable[[str], dict[str, str]]
    """Each instance's state of a breaker, by instance name."""
    states: dict[str, set[str]] = field(default_factory=dict)
    part_back: bool = False

    def inject(self) -> str:
        return self.stop()

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        return self.start()

    def observe(self) -> None:
        for instance, state in self.breakers(self.breaker).items():
            self.states.setdefault(instance, set()).add(state)

    def recovered(self) -> bool:
        self.part_back = self.part_back or self.answers()
        if not self.part_back:
            return False
        now = self.breakers(self.breaker)
        return bool(now) and all(state == "closed" for state in now.values())

    def details(self) -> Details:
        return {"part": self.part, "breaker": self.breaker, **_breakers_seen(self.states)}


@dataclass
class LoadgenWorkerKill:
    """SIGKILL one local Locust worker; the run must say it is incomplete."""

    kill: Callable[[], int]
    killed: int | None = None

    def inject(self) -> str:
        self.killed = self.kill()
        return f"Locust worker pid {self.killed} killed (SIGKILL)"

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        return ""  # a lost load generator is not replaced mid-run

    def observe(self) -> None:
        return None

    def recovered(self) -> bool:
        return False  # nothing recovers: the run must end incomplete

    def details(self) -> Details:
        return {"killed_pid": self.killed}
