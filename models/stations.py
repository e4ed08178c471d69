"""The topology's stations at one load: each an open M/M/c queue, with its wait.

:class:`~models.topology.Topology` says where each call goes; this module turns a load
(API calls per second) into what each station sees, from the calls that visit it:

* ``app_workers``: every call, ``instances × workers`` servers, the worker time per call;
* ``primary``: the calls that use the primary, over its server connections (the pooler's
  ``pool_max``); a call that finds them all busy waits in the pooler's queue;
* ``replica``: one replica (all R are alike): ``1/R`` of the replica reads over its own pool.

Per station, with λ its visits/s, s its service time per visit and c its servers:
utilization ``λ·s/c``; the chance to wait is Erlang C; the wait, given that one waits, is
exponential with rate ``θ = c/s − λ``, so its mean is ``C/θ``, its 95th percentile
``ln(C/0.05)/θ`` (0 when C <= 5%), and the share of visits that wait longer than the
station's max wait ``T`` (the pool's acquire timeout, the instance's request timeout) is
``C·e^(−θ·T)``: the share that fails instead of being served.

A request's time is the sum over the stations it visits; :meth:`StationLoad.delay` gives
each station's part in the form :class:`~models.response_time.ResponseTime` sums: a call
visits with probability q, so it waits with probability ``q·C`` (the wait of the station's
own queue), and its service there is the mean over all calls, ``q·s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from models.erlang import erlang_c
from models.response_time import StationDelay
from models.rounding import rounded

__all__ = ["StationLoad", "station"]

_P95_TAIL = 0.05


@dataclass(frozen=True, slots=True)
class StationLoad:
    """One station at one load. ``None`` waits mean no steady state (utilization >= 1)."""

    name: str
    servers: int
    visit_share: float
    """Probability that an API call visits this station."""
    arrival_rps: float
    """Visits per second."""
    service_s: float
    """Mean time a visit holds a server."""
    max_wait_s: float
    wait_probability: float
    mean_wait_s: float | None
    p95_wait_s: float | None
    timeout_share: float
    """Share of visits that would wait longer than ``max_wait_s`` (1 - c/a when overloaded)."""
    background_rps: float = 0.0
    """Background events per second (models/background.py): they hold a server too."""
    background_s: float = 0.0
    """Mean time a background event holds a server."""

    @property
    def utilization(self) -> float:
        return self.busy / self.servers if self.servers else math.inf

    @property
    def busy(self) -> float:
        """Mean busy servers (Little's law), background work included."""
        return self.arrival_rps * self.service_s + self.background_rps * self.background_s

    @property
    def _theta(self) -> float:
        """The rate of the conditional wait: ``c/s̄ − λ`` over visits and background alike."""
        total = self.arrival_rps + self.background_rps
        if not self.background_rps:
            return self.servers / self.service_s - self.arrival_rps if self.service_s else 0.0
        return (self.servers - self.busy) * total / self.busy if self.busy else 0.0

    @property
    def stable(self) -> bool:
        return self.mean_wait_s is not None

    def delay(self) -> StationDelay:
        """This station's part of one API call's time (module docstring)."""
        if not self.stable:
            raise ValueError(f"station {self.name} is overloaded: no steady-state delay")
        theta = self._theta
        if self.wait_probability <= 0 or theta <= 0:
            return StationDelay(self.visit_share * self.service_s)
        return StationDelay(
            self.visit_share * self.service_s,
            min(1.0, self.visit_share * self.wait_probability),
            1.0 / theta,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "servers": self.servers,
            "visit_share": round(self.visit_share, 4),
            "arrival_rps": round(self.arrival_rps, 3),
            "service_ms": round(self.service_s * 1000.0, 3),
            "utilization": round(self.utilization, 4),
            "wait_probability": round(self.wait_probability, 6),
            "mean_wait_ms": rounded(
                None if self.mean_wait_s is None else self.mean_wait_s * 1e3, 3
            ),
            "p95_wait_ms": rounded(None if self.p95_wait_s is None else self.p95_wait_s * 1e3, 3),
            "max_wait_s": self.max_wait_s,
            "timeout_share": round(self.timeout_share, 6),
            "background_rps": round(self.background_rps, 3),
            "background_ms": round(self.background_s * 1000.0, 3),
        }


def station(
    name: str, calls_rps: float, visit_share: float, service_s: float, servers: int,
    max_wait_s: float, *, background_rps: float = 0.0, background_s: float = 0.0,
) -> StationLoad:  # fmt: skip
    """The M/M/c station visited by ``visit_share`` of ``calls_rps`` calls for ``service_s``,
    and by ``background_rps`` events of ``background_s`` that no user waits for (one queue:
    the wait is Erlang C at the total load, the service the mean over both)."""
    lam = calls_rps * visit_share
    if background_rps <= 0 or background_s <= 0:
        background_rps = background_s = 0.0
    empty = StationLoad(name, servers, visit_share, lam, service_s, max_wait_s, 0.0, 0.0, 0.0,
                        0.0, background_rps, background_s)  # fmt: skip
    load = empty.busy
    if load <= 0:
        return empty
    if load >= servers:
        return StationLoad(name, servers, visit_share, lam, service_s, max_wait_s, 1.0, None,
                           None, 1.0 - servers / load, background_rps, background_s)  # fmt: skip
    c_wait = erlang_c(servers, load)
    theta = empty._theta
    p95 = math.log(c_wait / _P95_TAIL) / theta if c_wait > _P95_TAIL else 0.0
    return StationLoad(
        name,
        servers,
        visit_share,
        lam,
        service_s,
        max_wait_s,
        c_wait,
        c_wait / theta,
        p95,
        c_wait * math.exp(-theta * max_wait_s),
        background_rps,
        background_s,
    )
