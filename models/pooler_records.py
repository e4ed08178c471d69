"""The pooler's station in ``validation.json``: what the topology model predicted of the
database connections at one level, what PgBouncer showed, and whether they agree.

What is compared, and why these figures:

* **connections busy**: PgBouncer's ``sv_active`` (``SHOW POOLS``), server connections linked
  to a client, summed over the pools and sampled each second. In transaction mode a server
  connection is linked for exactly one transaction, so this is the number the model's Little's
  law gives for the primary's connections: arrivals x time each holds one. ``cl_active`` is
  not it: it counts every client connection that is not waiting, idle ones included (a
  worker's pool keeps its connections open between requests), so it measures connections
  opened, not used; it is kept beside as ``clients_active_mean``.
* **the pooler's wait**: ``cl_waiting`` (clients that sent a query and wait for a server
  connection) against the model's queue, λ·E[W] by Little's law; the mean wait per transaction
  from ``SHOW STATS`` (``total_wait_time`` over ``total_xact_count`` across the level) against
  the Erlang-C mean wait E[W]; and the longest wait ``maxwait`` showed, beside the model's 95th
  percentile of the wait. Shown, not judged: they are zero on a pool as wide as the lab's.

The goal (:data:`CONNECTIONS_GOAL`, :data:`CONNECTIONS_SLACK`): the mean and the 95th
percentile of the connections busy each within 20% of the measured figure, or within one
connection (a few connections busy are counted in whole connections: 20% of 1.5 is no
resolution a pool has).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from models.json_fields import JsonFields
from models.rounding import rounded_if_float as rounded

__all__ = [
    "CONNECTIONS_GOAL",
    "CONNECTIONS_SLACK",
    "PoolerComparison",
    "PoolerMeasurement",
    "PoolerPrediction",
    "connections_within_goal",
]

#: The largest relative error of the connections busy (mean and p95) a judged level allows...
CONNECTIONS_GOAL = 0.20
#: ...unless the absolute difference is at most this many connections.
CONNECTIONS_SLACK = 1.0


def connections_within_goal(predicted: float | None, measured: float | None) -> bool:
    """Whether ``predicted`` connections are within 20% of ``measured`` or within one
    connection of it (a missing figure misses)."""
    if predicted is None or measured is None:
        return False
    difference = abs(predicted - measured)
    if difference <= CONNECTIONS_SLACK:
        return True
    return measured > 0 and difference / measured <= CONNECTIONS_GOAL


@dataclass(frozen=True, slots=True)
class PoolerPrediction:
    """The model's pooler station at one level: the primary's server connections, an M/M/c
    queue (:mod:`models.stations`) at the rate the level's closed loop settles at."""

    servers: int
    arrival_rps: float
    """Transactions per second through the pooler (the calls that use the primary)."""
    busy_mean: float
    """Connections busy, Little's law: λ·s."""
    busy_p95: float
    """The 95th percentile of the connections busy (the M/M/c queue's state distribution)."""
    waiting_mean: float | None
    """Clients waiting for a connection, Little's law on the queue: λ·E[W] (None: overloaded)."""
    wait_mean_ms: float | None
    wait_p95_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "servers": self.servers,
            "arrival_rps": rounded(self.arrival_rps),
            "busy_mean": rounded(self.busy_mean),
            "busy_p95": rounded(self.busy_p95),
            "waiting_mean": rounded(self.waiting_mean),
            "wait_mean_ms": rounded(self.wait_mean_ms),
            "wait_p95_ms": rounded(self.wait_p95_ms),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> PoolerPrediction:
        f = JsonFields(data, where)
        return cls(
            servers=f.integer("servers"),
            arrival_rps=f.number("arrival_rps"),
            busy_mean=f.number("busy_mean"),
            busy_p95=f.number("busy_p95"),
            waiting_mean=f.opt_number("waiting_mean"),
            wait_mean_ms=f.opt_number("wait_mean_ms"),
            wait_p95_ms=f.opt_number("wait_p95_ms"),
        )


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


@dataclass(frozen=True, slots=True)
class PoolerMeasurement:
    """PgBouncer over one measure stage: its ``SHOW POOLS`` samples (one a second, the pools
    summed) and its ``SHOW STATS`` totals across the stage (module docstring)."""

    samples: int
    busy_mean: float | None
    """``sv_active``: server connections linked to a client."""
    busy_p95: float | None
    clients_active_mean: float | None
    """``cl_active``: client connections open and not waiting (idle ones included)."""
    waiting_mean: float | None
    """``cl_waiting``."""
    max_wait_ms: float | None
    """The longest ``maxwait`` (the oldest waiting client's wait) any sample showed."""
    wait_mean_ms: float | None
    """Wait per transaction: ``total_wait_time`` over ``total_xact_count`` across the stage."""
    transactions_rps: float | None

    @classmethod
    def mean_of(cls, measurements: Sequence[PoolerMeasurement]) -> PoolerMeasurement | None:
        """Every figure's mean over replications (the longest wait: the longest); None when
        none measured."""
        if not measurements:
            return None
        waits = [m.max_wait_ms for m in measurements if m.max_wait_ms is not None]
        return cls(
            samples=sum(m.samples for m in measurements),
            busy_mean=_mean([m.busy_mean for m in measurements]),
            busy_p95=_mean([m.busy_p95 for m in measurements]),
            clients_active_mean=_mean([m.clients_active_mean for m in measurements]),
            waiting_mean=_mean([m.waiting_mean for m in measurements]),
            max_wait_ms=max(waits) if waits else None,
            wait_mean_ms=_mean([m.wait_mean_ms for m in measurements]),
            transactions_rps=_mean([m.transactions_rps for m in measurements]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "busy_mean": rounded(self.busy_mean),
            "busy_p95": rounded(self.busy_p95),
            "clients_active_mean": rounded(self.clients_active_mean),
            "waiting_mean": rounded(self.waiting_mean),
            "max_wait_ms": rounded(self.max_wait_ms),
            "wait_mean_ms": rounded(self.wait_mean_ms),
            "transactions_rps": rounded(self.transactions_rps),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> PoolerMeasurement:
        f = JsonFields(data, where)
        return cls(
            samples=f.integer("samples"),
            busy_mean=f.opt_number("busy_mean"),
            busy_p95=f.opt_number("busy_p95"),
            clients_active_mean=f.opt_number("clients_active_mean"),
            waiting_mean=f.opt_number("waiting_mean"),
            max_wait_ms=f.opt_number("max_wait_ms"),
            wait_mean_ms=f.opt_number("wait_mean_ms"),
            transactions_rps=f.opt_number("transactions_rps"),
        )


def _relative(predicted: float | None, measured: float | None) -> float | None:
    if predicted is None or measured is None or measured == 0:
        return None
    return (predicted - measured) / measured


@dataclass(frozen=True, slots=True)
class PoolerComparison:
    """One level's pooler station: predicted, measured (None: PgBouncer gave no sample in the
    stage), the connections' relative errors, and the goal's verdict where the level is
    judged (None where it is not)."""

    predicted: PoolerPrediction
    measured: PoolerMeasurement | None
    meets_goal: bool | None

    @classmethod
    def of(
        cls, predicted: PoolerPrediction, measured: PoolerMeasurement | None, judged: bool
    ) -> PoolerComparison:
        meets = None
        if judged:
            meets = measured is not None and all(
                connections_within_goal(p, m)
                for p, m in (
                    (predicted.busy_mean, measured.busy_mean),
                    (predicted.busy_p95, measured.busy_p95),
                )
            )
        return cls(predicted, measured, meets)

    @property
    def busy_error(self) -> float | None:
        """(predicted - measured) / measured of the mean connections busy."""
        return None if self.measured is None else _relative(
            self.predicted.busy_mean, self.measured.busy_mean
        )  # fmt: skip

    @property
    def busy_p95_error(self) -> float | None:
        return None if self.measured is None else _relative(
            self.predicted.busy_p95, self.measured.busy_p95
        )  # fmt: skip

    def miss(self) -> str | None:
        """The miss in words (None when the goal was met or not judged)."""
        if self.meets_goal is None or self.meets_goal:
            return None
        if self.measured is None or self.measured.busy_mean is None:
            return "connections busy not measured (no PgBouncer sample in the stage)"
        measured_p95 = self.measured.busy_p95
        return (
            f"connections busy predicted {self.predicted.busy_mean:.2f} (p95 "
            f"{self.predicted.busy_p95:.0f}), measured {self.measured.busy_mean:.2f} (p95 "
            f"{'n/a' if measured_p95 is None else f'{measured_p95:.0f}'}) (goal ±"
            f"{CONNECTIONS_GOAL:.0%} or ±{CONNECTIONS_SLACK:g} connection)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "predicted": self.predicted.to_json(),
            "measured": None if self.measured is None else self.measured.to_json(),
            "busy_error": rounded(self.busy_error),
            "busy_p95_error": rounded(self.busy_p95_error),
            "meets_goal": self.meets_goal,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> PoolerComparison:
        f = JsonFields(data, where)
        measured = f.opt_child("measured")
        meets = f.raw("meets_goal") if f.has("meets_goal") else None
        return cls(
            predicted=PoolerPrediction.from_json(f.raw("predicted"), f.path("predicted")),
            measured=None
            if measured is None
            else PoolerMeasurement.from_json(measured.data, measured.where),
            meets_goal=None if meets is None else f.flag("meets_goal"),
        )
