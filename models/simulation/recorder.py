"""What a simulated day produced: one flat record per minute, and totals.

The records are flat dataclasses of numbers, so ``pandas.DataFrame(result.minutes)`` (or
:meth:`SimulationResult.to_frame`) reads them directly, as Ciw's records are read.

Definitions (the same in the simulation and the fast path):

* ``users``: concurrent users the curve asks for; ``requests``: arrivals in the minute
  (rate-limited ones included); ``rps = requests / 60``.
* ``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms``: response times of the requests that
  succeeded, attributed to the minute in which they started service.
* ``errors``: connection-acquire timeouts, request timeouts (503 after
  ``request_timeout_s``), rate-limited requests, breaker rejections and failed external
  calls; ``error_rate = errors / requests``.
* ``instances``: mean serving instances over the minute; ``instances_billed`` includes
  those provisioning. ``cpu``: worker-seconds busy / worker-seconds serving (busy workers
  over workers, fleet mean). ``db_connections``: mean connections in use.

The whole-run percentiles in :class:`Totals` come from a log-spaced histogram of every
response time (0.5% wide bins), so a day of tens of millions of requests needs no list.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from models.simulation.system import TickCounters

__all__ = ["LatencyHistogram", "MinuteRecord", "Recorder", "Totals", "totals"]

FloatArray = npt.NDArray[np.float64]

_BIN_LOW_S = 1e-5
_BIN_HIGH_S = 1e4
_BINS = 4200  # 9 decades; each bin is 10**(9/4200) - 1 = 0.49% wide


@dataclass(frozen=True, slots=True)
class MinuteRecord:
    """One minute of the run (see the module docstring for each field)."""

    minute: int
    time_s: float
    """Seconds after midnight at the start of the minute."""
    users: float
    requests: float
    rps: float
    errors: float
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    instances: float
    instances_billed: float
    cpu: float
    db_connections: float


@dataclass(frozen=True, slots=True)
class Totals:
    """The run as a whole."""

    requests: float
    errors: float
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    instance_minutes: float
    """Billed instance-minutes (serving + provisioning): what cost is made of."""
    serving_instance_minutes: float
    peak_instances: float
    peak_rps: float
    peak_users: float
    max_cpu: float
    max_db_connections: float
    scaling_actions: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class LatencyHistogram:
    """Counts of response times in log-spaced bins, for percentiles of a whole run."""

    def __init__(self) -> None:
        self.edges = np.logspace(math.log10(_BIN_LOW_S), math.log10(_BIN_HIGH_S), _BINS + 1)
        self.counts = np.zeros(_BINS + 2, dtype=np.float64)  # + underflow and overflow

    def add(self, values: FloatArray, weight: float = 1.0) -> None:
        index = np.searchsorted(self.edges, values, side="right")
        self.counts += np.bincount(index, minlength=self.counts.size) * weight

    def add_counts(self, counts: FloatArray) -> None:
        self.counts += counts

    def percentile(self, q: float) -> float:
        """The q-quantile (0..1) in seconds: the geometric middle of its bin."""
        total = self.counts.sum()
        if total == 0:
            return math.nan
        index = int(np.searchsorted(np.cumsum(self.counts), q * total, side="left"))
        low = self.edges[max(index - 1, 0)]
        high = self.edges[min(index, _BINS)]
        return float(math.sqrt(low * high))


class Recorder:
    """Collects the system's per-second counters into minutes and answers the autoscaler."""

    def __init__(self, start_s: float, seconds: int, window_s: int) -> None:
        self.start_s = start_s
        n = seconds + 1
        self.requests = np.zeros(n)
        self.errors = np.zeros(n)
        self.busy = np.zeros(n)
        self.db_busy = np.zeros(n)
        self.workers = np.zeros(n)
        self.serving = np.zeros(n)
        self.billed = np.zeros(n)
        self.recent: deque[list[float]] = deque(maxlen=max(60, window_s))
        self.histogram = LatencyHistogram()
        self.minutes: list[MinuteRecord] = []

    def tick(self, second: int, counters: TickCounters, requests: int, rejected: int,
             serving: int, billed: int, workers_per_instance: int) -> None:  # fmt: skip
        """Store one second: ``requests`` arrived, ``rejected`` of them by the rate limiter;
        ``serving`` and ``billed`` instances."""
        self.serving[second] = serving
        self.billed[second] = billed
        self.requests[second] = requests
        self.errors[second] = counters.errors + rejected
        self.busy[second] = counters.busy_s
        self.db_busy[second] = counters.db_busy_s
        self.workers[second] = serving * workers_per_instance
        self.recent.append(counters.latencies)

    def window(self, end_second: int, seconds: int) -> tuple[float, float]:
        """Fleet CPU and p95 (ms) over the ``seconds`` before ``end_second``: the
        autoscaler's view."""
        lo = max(0, end_second - seconds)
        capacity = self.workers[lo:end_second].sum()
        cpu = float(self.busy[lo:end_second].sum() / capacity) if capacity > 0 else 0.0
        lists = list(self.recent)[-seconds:]
        values = np.fromiter((v for lst in lists for v in lst), dtype=np.float64)
        p95 = float(np.percentile(values, 95) * 1000.0) if values.size else 0.0
        return min(cpu, 1.0), p95

    def close_minute(self, minute: int, users: float) -> None:
        lo, hi = minute * 60, minute * 60 + 60
        lists = list(self.recent)[-60:]
        values = np.fromiter((v for lst in lists for v in lst), dtype=np.float64)
        if values.size:
            p50, p95, p99 = np.percentile(values, (50, 95, 99)) * 1000.0
            mean = float(values.mean() * 1000.0)
            self.histogram.add(values)
        else:
            p50 = p95 = p99 = mean = math.nan
        requests = float(self.requests[lo:hi].sum())
        errors = float(self.errors[lo:hi].sum())
        capacity = self.workers[lo:hi].sum()
        self.minutes.append(
            MinuteRecord(
                minute=minute,
                time_s=self.start_s + lo,
                users=users,
                requests=requests,
                rps=requests / 60.0,
                errors=errors,
                error_rate=errors / requests if requests else 0.0,
                p50_ms=float(p50),
                p95_ms=float(p95),
                p99_ms=float(p99),
                mean_ms=mean,
                instances=float(self.serving[lo:hi].mean()),
                instances_billed=float(self.billed[lo:hi].mean()),
                cpu=min(float(self.busy[lo:hi].sum() / capacity), 1.0) if capacity else 0.0,
                db_connections=float(self.db_busy[lo:hi].sum() / 60.0),
            )
        )


def totals(minutes: list[MinuteRecord], histogram: LatencyHistogram, actions: int) -> Totals:
    """Totals of a run from its minutes and its latency histogram."""
    requests = sum(m.requests for m in minutes)
    errors = sum(m.errors for m in minutes)

    def peak(values: list[float]) -> float:
        finite = [v for v in values if not math.isnan(v)]
        return max(finite) if finite else 0.0

    return Totals(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        p50_ms=histogram.percentile(0.50) * 1000.0,
        p95_ms=histogram.percentile(0.95) * 1000.0,
        p99_ms=histogram.percentile(0.99) * 1000.0,
        instance_minutes=sum(m.instances_billed for m in minutes),
        serving_instance_minutes=sum(m.instances for m in minutes),
        peak_instances=peak([m.instances_billed for m in minutes]),
        peak_rps=peak([m.rps for m in minutes]),
        peak_users=peak([m.users for m in minutes]),
        max_cpu=peak([m.cpu for m in minutes]),
        max_db_connections=peak([m.db_connections for m in minutes]),
        scaling_actions=float(actions),
    )
