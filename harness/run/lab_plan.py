"""What a run on the lab asks for, turned into a checked topology before anything starts.

``harness run`` and ``harness serve`` take ``--instances K --cpu-limit CORES --pooler
--read-replicas R --cache`` (or ``--lab``: the profile's ``[lab]`` section). :func:`plan_lab`
sizes the topology from the profile (each worker's pool from
``infrastructure.database.worker_pool_size``, PgBouncer's server pool from ``pool_min`` and
``pool_max``, its client limit from ``max_client_connections``) and checks it all: the shape
and the connection arithmetic (:class:`harness.lab.topology.LabTopology`), the programs and
cores (:func:`harness.lab.topology.check_machine`), that a CPU group can be made here, and,
on a PostgreSQL the lab does not own, its ``max_connections``. Each refusal is a UsageError
(exit 2) that names the numbers and the fix.

With read replicas the lab runs a PostgreSQL of its own (a primary and its replicas, made for
the run: a replica can only stream from a primary whose configuration the lab controls), in a
database of the name ``--database-url`` gives; without, the instances use ``--database-url``
itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url

from harness.errors import TargetUnreachable, UsageError
from harness.lab.cgroups import CpuGroup, CpuLimit, detect_layout
from harness.lab.pgbouncer import PoolSizing
from harness.lab.topology import LabTopology, check_machine
from models.profile import Profile

LAB_MAX_CONNECTIONS_MARGIN = 10
"""Connections a lab-owned PostgreSQL keeps beyond PgBouncer's pool: the harness's audit and
sampling, the replicas' senders."""


@dataclass(frozen=True, slots=True)
class LabRequest:
    """The lab flags of ``harness run`` and ``harness serve``, before they are checked."""

    instances: int
    cpu_limit: float
    pooler: bool = False
    read_replicas: int = 0
    cache: bool = False
    workers_per_instance: int = 1

    @classmethod
    def from_profile(cls, profile: Profile) -> LabRequest:
        """``--lab``: the profile's ``[lab]`` section."""
        lab = profile.lab
        return cls(
            lab.instances, lab.cpu_limit, lab.pooler, lab.read_replicas, lab.cache,
            lab.workers_per_instance,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabPlan:
    """A checked lab: its topology, and the database it runs on."""

    topology: LabTopology
    database_url: str | None
    """``--database-url`` as given (None: a fresh SQLite file)."""
    own_postgres: bool
    """The lab starts its own primary (and replicas) instead of using ``database_url``."""
    database_name: str
    """The database the instances use on the lab's own PostgreSQL."""


def pool_sizing(profile: Profile) -> PoolSizing:
    """PgBouncer's pool from the profile: ``pool_min``..``pool_max`` server connections,
    ``max_client_connections`` clients."""
    db = profile.infrastructure.database
    return PoolSizing(
        default_pool_size=db.pool_max,
        min_pool_size=min(db.pool_min, db.pool_max),
        max_client_conn=db.max_client_connections,
    )


def plan_lab(lab: LabRequest, profile: Profile, database_url: str | None) -> LabPlan:
    """The checked plan (module docstring); UsageError naming the value and the fix."""
    postgres = bool(database_url) and not str(database_url).startswith("sqlite")
    if (lab.read_replicas or lab.pooler) and not postgres:
        flag = f"--read-replicas {lab.read_replicas}" if lab.read_replicas else "--pooler"
        raise UsageError(
            f"{flag} needs PostgreSQL and the run's database is "
            f"{database_url or 'a fresh SQLite file'}: give --database-url "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        )
    own = lab.read_replicas > 0
    sizing = pool_sizing(profile)
    if not postgres:
        max_connections = 100
    elif own:
        max_connections = sizing.server_connections + LAB_MAX_CONNECTIONS_MARGIN
    else:
        max_connections = _max_connections(str(database_url))
    topology = LabTopology(
        instances=lab.instances,
        cpu_limit=lab.cpu_limit,
        workers_per_instance=lab.workers_per_instance,
        pool_per_worker=profile.infrastructure.database.worker_pool_size,
        postgres=postgres,
        pooler=lab.pooler,
        pooler_sizing=sizing,
        postgres_max_connections=max_connections,
        read_replicas=lab.read_replicas,
        cache=lab.cache,
    )
    check_machine(topology)
    check_cgroups()
    name = make_url(database_url).database if postgres and database_url else None
    return LabPlan(topology, database_url, own, name or "postgres")


def check_cgroups() -> None:
    """CgroupUnavailable (exit 2, with the reason and both fixes) unless a CPU group can be
    made here: a probe group is made and removed."""
    probe = CpuGroup(f"probe-{os.getpid()}", detect_layout())
    try:
        probe.create(CpuLimit(1.0))
    finally:
        probe.remove()


def _max_connections(database_url: str) -> int:
    """The server's ``max_connections``; TargetUnreachable (exit 3) when it cannot be asked."""
    url = make_url(database_url)
    try:
        with psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password or None,
            dbname=url.database or "postgres",
            connect_timeout=5,
        ) as connection:
            row = connection.execute("SHOW max_connections").fetchone()
    except psycopg.Error as exc:
        raise TargetUnreachable(database_url, f"cannot read max_connections: {exc}") from exc
    assert row is not None
    return int(row[0])
