"""Availability, measured the way a status page does: probe ``/health`` once a second.

Availability is the fraction of probes answered 200 within the timeout. It comes from our own
prober, not from the load generator's error rate, because a service that is down stops
answering *everyone*, including users who are thinking and would not notice for a while.

The probe runs on a thread of the harness process (no gevent there: Locust runs in its own
processes), with its own connection per probe so that one stuck socket cannot hide an outage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True, slots=True)
class ProbeResult:
    t_s: float
    ok: bool
    latency_ms: float
    error: str = ""


def availability(
    results: list[ProbeResult], start_s: float = 0.0, end_s: float = float("inf")
) -> float | None:
    """Fraction of probes in ``[start_s, end_s)`` that succeeded; None when there were none."""
    window = [r for r in results if start_s <= r.t_s < end_s]
    if not window:
        return None
    return sum(r.ok for r in window) / len(window)


@dataclass
class Prober:
    """Probes ``{host}{path}`` every ``interval_s`` on a background thread."""

    host: str
    clock: Callable[[], float]
    interval_s: float = 1.0
    timeout_s: float = 1.0
    path: str = "/health"
    results: list[ProbeResult] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def probe_once(self) -> ProbeResult:
        t_s = self.clock()
        url = f"{self.host.rstrip('/')}{self.path}"
        try:
            response = httpx.get(url, timeout=self.timeout_s)
            ok = response.status_code == 200
            error = "" if ok else f"HTTP {response.status_code}"
            latency_ms = response.elapsed.total_seconds() * 1000.0
        except httpx.HTTPError as exc:
            ok, error, latency_ms = False, f"{type(exc).__name__}: {exc}", self.timeout_s * 1000.0
        result = ProbeResult(round(t_s, 3), ok, round(latency_ms, 3), error)
        with self._lock:
            self.results.append(result)
        return result

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="health-prober", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = self.clock()
            self.probe_once()
            # Keep a steady cadence: a slow probe shortens the pause instead of drifting.
            self._stop.wait(max(0.0, self.interval_s - (self.clock() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def snapshot(self) -> list[ProbeResult]:
        with self._lock:
            return list(self.results)

    def consecutive_failures(self) -> int:
        """How many of the latest probes failed in a row (a dead service shows up here)."""
        count = 0
        with self._lock:
            for result in reversed(self.results):
                if result.ok:
                    break
                count += 1
        return count
