"""Connection arithmetic: what the fleet opens against what it uses, each against its limit.

Two numbers that are easy to confuse, shown apart:

* **Opened**: every worker process keeps its own client pool of ``worker_pool_size``
  connections, so the fleet opens ``instances × workers × worker_pool_size`` of them,
  whatever the load. At ``max_instances`` that is the most the configuration can ask for.
* **Busy**: Little's law, connections in use = calls/s × time each holds one. At the peak
  that is a handful; it is what the pools must serve.

Where they land depends on the pooler:

* with a transaction-mode pooler (PgBouncer), the client connections land on the pooler and
  count against its ``max_client_connections``; the primary sees only the pooler's server
  connections (``pool_max``);
* without one, every client connection is a connection to the primary.

The primary accepts at most its tier's ``max_connections`` (the tier the cost model prices,
:func:`models.cost.database_tier`). A configuration whose fleet, at ``max_instances``, can
open more than a limit is a problem: the autoscaler will reach it on a busy day, and the
database (or the pooler) then refuses connections, which the service answers with errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.profile import Profile

__all__ = ["ConnectionPlan", "connection_plan"]


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """Opened and busy connections, each against the pooler's and the database's limits."""

    pooler: bool
    worker_pool_size: int
    opened_at_min_instances: int
    """Client connections the fleet opens at ``min_instances``."""
    opened_at_max_instances: int
    busy_at_peak: float
    """Client connections in use at the peak (Little's law, waits included)."""
    busy_primary: float
    """Primary server connections in use at the peak."""
    busy_per_replica: float
    max_client_connections: int | None
    """The pooler's client limit; None without a pooler."""
    primary_at_max_instances: int
    """Connections the primary must accept at ``max_instances``: the pooler's ``pool_max``,
    or every client connection without a pooler."""
    database_tier: str
    database_max_connections: int

    def problems(self) -> list[str]:
        """Each limit the configuration can exceed, in words that name the key to change."""
        out = []
        limit = self.max_client_connections
        if limit is not None and self.opened_at_max_instances > limit:
            out.append(
                f"at max_instances the workers open {self.opened_at_max_instances:,} client "
                f"connections, above the pooler's max_client_connections ({limit:,}): lower "
                "database.worker_pool_size or autoscaling.max_instances, or raise the limit"
            )
        if self.primary_at_max_instances > self.database_max_connections:
            how = (
                "database.pool_max"
                if self.pooler
                else "database.worker_pool_size or autoscaling.max_instances (or add a pooler)"
            )
            out.append(
                f"at max_instances the primary must accept {self.primary_at_max_instances:,} "
                f"connections, above the {self.database_tier} tier's max_connections "
                f"({self.database_max_connections:,}): lower {how}"
            )
        if limit is not None and self.busy_at_peak > limit:
            out.append(
                f"{self.busy_at_peak:,.1f} client connections busy at the peak, above {limit:,}"
            )
        if self.busy_primary > self.database_max_connections:
            out.append(
                f"{self.busy_primary:,.1f} primary connections busy at the peak, above "
                f"{self.database_max_connections:,}"
            )
        return out

    @property
    def fits(self) -> bool:
        return not self.problems()

    def to_json(self) -> dict[str, Any]:
        return {
            "pooler": self.pooler,
            "worker_pool_size": self.worker_pool_size,
            "opened_at_min_instances": self.opened_at_min_instances,
            "opened_at_max_instances": self.opened_at_max_instances,
            "busy_at_peak": round(self.busy_at_peak, 3),
            "busy_primary": round(self.busy_primary, 3),
            "busy_per_replica": round(self.busy_per_replica, 3),
            "max_client_connections": self.max_client_connections,
            "primary_at_max_instances": self.primary_at_max_instances,
            "database_tier": self.database_tier,
            "database_max_connections": self.database_max_connections,
            "fits": self.fits,
            "problems": self.problems(),
        }


def connection_plan(
    profile: Profile,
    *,
    busy_client: float,
    busy_primary: float,
    busy_per_replica: float,
    tier_name: str,
    tier_max_connections: int,
) -> ConnectionPlan:
    """The plan for ``profile`` given the peak's busy connections and the database tier."""
    infra = profile.infrastructure
    db = infra.database
    per_instance = infra.workers_per_instance * db.worker_pool_size
    at_max = infra.autoscaling.max_instances * per_instance
    return ConnectionPlan(
        pooler=db.pooler,
        worker_pool_size=db.worker_pool_size,
        opened_at_min_instances=infra.autoscaling.min_instances * per_instance,
        opened_at_max_instances=at_max,
        busy_at_peak=busy_client,
        busy_primary=busy_primary,
        busy_per_replica=busy_per_replica,
        max_client_connections=db.max_client_connections if db.pooler else None,
        primary_at_max_instances=db.pool_max if db.pooler else at_max,
        database_tier=tier_name,
        database_max_connections=tier_max_connections,
    )
