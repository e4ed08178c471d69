"""What a lab is made of, checked before anything starts, and where each part runs.

A :class:`LabTopology` is K service instances (each ``workers_per_instance`` processes under a
CPU limit of ``cpu_limit`` cores), a PostgreSQL primary with R read replicas (or SQLite, which
has neither), PgBouncer in front of it or not, a cache or not, and the machine's cores split
between the service side and the load side. Building one checks the values and the connection
arithmetic (every worker's pool must fit where it connects); :func:`check_machine` checks what
this machine must have (the programs, the cores). Both raise a UsageError (exit 2) that names
the value and the fix.

:func:`placement` is the record ``run.json`` keeps of where each part ran: the instances,
PostgreSQL and its replicas on the service cores; Locust, HAProxy and PgBouncer on the load
cores, so that the load and the balancing never take CPU from what is measured; so does the
cache's own Redis.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import UsageError
from harness.lab.pgbouncer import PoolSizing
from harness.lab.programs import HAPROXY, INITDB, PGBOUNCER, REDIS_SERVER, Program, find_program

SUPERUSER_RESERVED_CONNECTIONS = 3
"""PostgreSQL keeps this many of ``max_connections`` for superusers (its default)."""
INSTANCE_PREFIX = "instance_"
"""Instance ``n`` is ``instance_<n>``, the name HAProxy gives its server too."""


def machine_cores() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The default split of the cores this process may use: the first for the service side,
    the rest for the load side (the same core when there is only one)."""
    cores = tuple(sorted(os.sched_getaffinity(0)))
    return cores[:1], cores[1:] or cores[:1]


@dataclass(frozen=True, slots=True)
class LabTopology:
    """A lab's shape (see the module docstring); invalid values raise UsageError."""

    instances: int = 1
    cpu_limit: float = 1.0
    """Cores of CPU time each instance may use (a container's CPU limit)."""
    workers_per_instance: int = 1
    pool_per_worker: int = 10
    """Database connections one worker's pool opens at most (the service's DB_POOL_MAX)."""
    postgres: bool = True
    """PostgreSQL (True) or SQLite, which has no server, no pooler and no replicas."""
    pooler: bool = True
    pooler_sizing: PoolSizing = field(default_factory=PoolSizing)
    postgres_max_connections: int = 100
    read_replicas: int = 0
    cache: bool = True
    service_cores: tuple[int, ...] = field(default_factory=lambda: machine_cores()[0])
    load_cores: tuple[int, ...] = field(default_factory=lambda: machine_cores()[1])

    def __post_init__(self) -> None:
        self._check_shape()
        if self.postgres:
            self._check_connections()

    def _check_shape(self) -> None:
        if self.instances < 1:
            raise UsageError(
                f"--instances {self.instances}: the lab needs at least one service instance; "
                "pass --instances 1 or more"
            )
        if self.workers_per_instance < 1:
            raise UsageError(
                f"--workers {self.workers_per_instance}: each instance needs at least one "
                "worker; pass --workers 1 or more"
            )
        if not self.service_cores or not self.load_cores:
            raise UsageError(
                f"service cores {list(self.service_cores)}, load cores {list(self.load_cores)}: "
                "both sides need at least one core"
            )
        cores = len(self.service_cores)
        if not 0 < self.cpu_limit <= cores:
            raise UsageError(
                f"--cpu-limit {self.cpu_limit:g}: expected more than 0 and at most the "
                f"{cores} service core(s) {list(self.service_cores)} the instances run on; pass "
                f"--cpu-limit {cores:g} or less, or give the service more cores"
            )
        if self.read_replicas < 0:
            raise UsageError(f"--read-replicas {self.read_replicas}: expected 0 or more")
        if not self.postgres and self.read_replicas:
            raise UsageError(
                f"--read-replicas {self.read_replicas} needs PostgreSQL, and this lab's database "
                "is SQLite: use PostgreSQL or drop --read-replicas"
            )
        if not self.postgres and self.pooler:
            raise UsageError(
                "the pooler (PgBouncer) needs PostgreSQL, and this lab's database is SQLite: "
                "use PostgreSQL or turn the pooler off"
            )
        if self.pool_per_worker < 1:
            raise UsageError(f"pool per worker: {self.pool_per_worker}; expected 1 or more")

    @property
    def client_connections(self) -> int:
        """The most database connections the instances open: instances x workers x pool."""
        return self.instances * self.workers_per_instance * self.pool_per_worker

    @property
    def usable_connections(self) -> int:
        """PostgreSQL's connections for non-superusers."""
        return self.postgres_max_connections - SUPERUSER_RESERVED_CONNECTIONS

    def _check_connections(self) -> None:
        clients = (
            f"{self.instances} instances x {self.workers_per_instance} workers x "
            f"{self.pool_per_worker} pool = {self.client_connections} client connections"
        )
        if self.pooler:
            sizing = self.pooler_sizing
            if self.client_connections > sizing.max_client_conn:
                raise UsageError(
                    f"{clients}, over PgBouncer's max_client_conn {sizing.max_client_conn}: "
                    f"raise max_client_conn to {self.client_connections} or shrink the pool"
                )
            if sizing.server_connections > self.usable_connections:
                raise UsageError(
                    f"PgBouncer's default_pool_size {sizing.default_pool_size} + "
                    f"reserve_pool_size {sizing.reserve_pool_size} = {sizing.server_connections} "
                    f"server connections, over PostgreSQL's max_connections "
                    f"{self.postgres_max_connections} - {SUPERUSER_RESERVED_CONNECTIONS} reserved "
                    f"= {self.usable_connections}: shrink the pooler's pool or raise "
                    "max_connections"
                )
        elif self.client_connections > self.usable_connections:
            raise UsageError(
                f"{clients} without a pooler, over PostgreSQL's max_connections "
                f"{self.postgres_max_connections} - {SUPERUSER_RESERVED_CONNECTIONS} reserved = "
                f"{self.usable_connections}: turn the pooler on, shrink the pool, or raise "
                f"max_connections to {self.client_connections + SUPERUSER_RESERVED_CONNECTIONS}"
            )

    def programs(self) -> tuple[Program, ...]:
        """The programs this lab runs."""
        needed = [HAPROXY]
        if self.pooler:
            needed.append(PGBOUNCER)
        if self.postgres:
            needed.append(INITDB)
        if self.cache:
            needed.append(REDIS_SERVER)  # the cache's own (harness/lab/cache_redis.py)
        return tuple(needed)


def check_machine(topology: LabTopology) -> None:
    """UsageError unless this machine has every program the topology runs (naming the
    packages to install) and every core it names."""
    missing = []
    for program in topology.programs():
        try:
            find_program(program)
        except UsageError:
            missing.append(program)
    if missing:
        names = ", ".join(program.name for program in missing)
        packages = " ".join(dict.fromkeys(program.package for program in missing))
        raise UsageError(f"the lab needs {names}, not installed here: apt-get install {packages}")
    available = os.sched_getaffinity(0)
    absent = sorted(set(topology.service_cores + topology.load_cores) - available)
    if absent:
        raise UsageError(
            f"cores {absent}: this process may only use cores {sorted(available)}; name "
            "service and load cores among those"
        )


def placement(topology: LabTopology) -> dict[str, Any]:
    """Where each part runs and what it may use, as ``run.json`` records it."""
    service, load = list(topology.service_cores), list(topology.load_cores)
    return {
        "service_cores": service,
        "load_cores": load,
        "shared_cores": sorted(set(service) & set(load)),
        "instances": [
            {
                "name": f"{INSTANCE_PREFIX}{number}",
                "cpus": service,
                "cpu_limit_cores": topology.cpu_limit,
                "workers": topology.workers_per_instance,
            }
            for number in range(1, topology.instances + 1)
        ],
        "haproxy": {"cpus": load},
        "locust": {"cpus": load},
        "pgbouncer": {"cpus": load, **asdict(topology.pooler_sizing)} if topology.pooler else None,
        "postgresql": {
            "cpus": service,
            "max_connections": topology.postgres_max_connections,
            "read_replicas": topology.read_replicas,
        }
        if topology.postgres
        else None,
        "cache": topology.cache,
        "cache_redis": {"cpus": load} if topology.cache else None,
        "client_connections": topology.client_connections if topology.postgres else 0,
    }
