"""The lab as a run's target: the parts started under one cleanup ledger, HAProxy in front.

``harness run --instances K ...`` (and ``harness serve``) start, in this order, everything
recorded first in a :class:`~harness.lab.cleanup.LabLedger` (so a killed harness's leftovers
are removed by the next start)::

    the lab's PostgreSQL (primary + R streaming replicas), when it has replicas; seeded
    PgBouncer in transaction mode in front of the primary                   (--pooler)
    the cache's own redis-server, on a free port, no persistence            (--cache)
    K service instances, each in a CPU group of its own (CFS quota over 100 ms, pinned to
        the service cores; both apply once the instance is ready, so that its start is not
        slowed down), each with its own metrics directory
    HAProxy, leastconn, checking /health/ready every second: the run's target URL; an
        instance gets at most workers x pool requests at once (more would only wait for a
        database connection inside it, where they slow its health checks down), the rest
        wait in HAProxy's queue

then pins the harness (and the Locust processes it starts) to the load cores, and samples
every part each second (:mod:`harness.run.lab_sampling`). The instances get the settings of
the lab (docs/lab.md lists them): the pool of each worker, the pooler, the replicas, the
cache (in the lab's own Redis, ``CACHE_REDIS_URL``: a chaos run may kill it), one secret key
for all (a token one instance issued is honoured by the others) and the shared Redis
(``REDIS_URL``: rate limits, injected faults).

A scrape of the lab sums the instances' ``/metrics``; an instance that no longer answers (a
chaos run killed it) is read from its metrics directory, so the sum keeps what it counted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Self

import httpx

from harness.lab.cache_redis import CacheRedis
from harness.lab.cgroups import CpuGroup, CpuLimit
from harness.lab.cleanup import LabLedger
from harness.lab.haproxy import BalancerSettings, HAProxy
from harness.lab.pgbouncer import PgBouncer
from harness.lab.postgres import LabPostgres, PostgresSettings
from harness.lab.topology import INSTANCE_PREFIX
from harness.run import lab_sampling
from harness.run.lab_instance import LabInstance
from harness.run.lab_plan import LabPlan
from harness.run.scrape import Scrape
from harness.run.service import DEFAULT_REDIS_URL, BundledService, ServiceConfig
from models.lab_records import LabRecord
from models.profile import Profile

HAPROXY_UP_TIMEOUT_S = 30.0
CHECK_INTERVAL_S = 1.0
"""HAProxy's health-check interval: an instance that dies is out after two (``fall``)."""
CHECK_TIMEOUT_S = 5.0
"""How long a check may take: a cloud load balancer's default. A busy instance under its CPU
limit answers /health/ready late, not never; a one-second timeout takes every instance of a
saturated lab out in turn (docs/benchmarks.md, "The lab's front door")."""


class LabService(BundledService):
    """The lab behind HAProxy, used by a run like the bundled service (module docstring)."""

    def __init__(
        self, config: ServiceConfig, plan: LabPlan, profile: Profile, run_dir: Path
    ) -> None:
        super().__init__(config)
        self.plan = plan
        self.profile = profile
        self.run_dir = run_dir
        self.ledger: LabLedger | None = None
        self.postgres: LabPostgres | None = None
        self.pooler: PgBouncer | None = None
        self.cache_redis: CacheRedis | None = None
        self.balancer: HAProxy | None = None
        self.instances: list[LabInstance] = []
        self.sampler: lab_sampling.LabSampler | None = None
        self._affinity: set[int] | None = None
        self._direct_url: str | None = None

    def process_cpu_s(self) -> float | None:
        """None: the lab's instances are read from their CPU groups in every scrape."""
        return None

    @property
    def direct_database_url(self) -> str | None:
        return self._direct_url

    @property
    def database_kind(self) -> str:
        return "postgresql" if self.plan.topology.postgres else "sqlite"

    def launch(self) -> Self:
        """Start every part (module docstring); on any failure, remove what was started."""
        try:
            self.ledger = LabLedger().open()
            work = self.ledger.new_directory("run")
            self._start_database(work)
            self._start_pooler()
            if self.plan.topology.cache:
                cores = frozenset(self.plan.topology.load_cores)
                self.cache_redis = CacheRedis(self.ledger, cores).start()
            self._start_instances(work)
            ports = tuple(instance.service.port for instance in self.instances)
            topology = self.plan.topology
            self.balancer = HAProxy(
                self.ledger,
                ports,
                BalancerSettings(
                    check_interval_s=CHECK_INTERVAL_S,
                    timeout_check_s=CHECK_TIMEOUT_S,
                    server_maxconn=topology.workers_per_instance * topology.pool_per_worker,
                    cpus=frozenset(topology.load_cores),
                    port=self.config.port,
                ),
            ).start()
            self.port = self.balancer.port
        except BaseException:
            self.stop()
            raise
        return self

    def _start_database(self, work: Path) -> None:
        """The database the instances use, seeded: the lab's own PostgreSQL with replicas, or
        the run's ``--database-url``, or a fresh SQLite file."""
        assert self.ledger is not None
        plan, topology = self.plan, self.plan.topology
        if plan.own_postgres:
            self.postgres = LabPostgres(
                self.ledger,
                PostgresSettings(
                    replicas=topology.read_replicas,
                    max_connections=topology.postgres_max_connections,
                    cpus=frozenset(topology.service_cores),
                ),
            ).start()
            primary = self.postgres.primary
            assert primary is not None
            if plan.database_name != "postgres":
                with primary.connect() as connection:
                    connection.execute(f'CREATE DATABASE "{plan.database_name}"')
            self.postgres.wait_streaming()
            self._direct_url = _sqlalchemy_url(primary.port, plan.database_name)
        else:
            self._direct_url = plan.database_url or f"sqlite:///{work / 'marketplace.db'}"
        self.database_url = self._direct_url
        if self.config.seed:
            self._seed()

    def _start_pooler(self) -> None:
        assert self.ledger is not None and self._direct_url is not None
        topology = self.plan.topology
        if not topology.pooler:
            return
        from sqlalchemy.engine import make_url

        server = make_url(self._direct_url)
        self.pooler = PgBouncer(
            self.ledger,
            server.port or 5432,
            topology.pooler_sizing,
            users=(server.username or "postgres",),
            server_host=server.host or "127.0.0.1",
            cpus=frozenset(topology.load_cores),
        ).start()

    def instance_database_url(self) -> str:
        """What the instances connect to: PgBouncer when there is one, else the database."""
        assert self._direct_url is not None
        if self.pooler is None:
            return self._direct_url
        from sqlalchemy.engine import make_url

        url = make_url(self._direct_url).set(host="127.0.0.1", port=self.pooler.port)
        return url.render_as_string(hide_password=False)

    def instance_environment(self) -> dict[str, str]:
        """The settings every instance gets (module docstring; docs/lab.md)."""
        topology, infra = self.plan.topology, self.profile.infrastructure
        replicas = self.postgres.replicas if self.postgres is not None else []
        pool = str(topology.pool_per_worker)
        cache = {} if self.cache_redis is None else {"CACHE_REDIS_URL": self.cache_redis.url}
        return {
            **dict(self.config.environment),
            **cache,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "REDIS_URL": self.config.redis_url or os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
            "DB_POOL_MIN": pool,
            "DB_POOL_MAX": pool,
            "DB_POOLER": "1" if topology.pooler else "0",
            "READ_REPLICA_URLS": ",".join(
                _sqlalchemy_url(replica.port, self.plan.database_name) for replica in replicas
            ),
            "READ_YOUR_WRITES_S": f"{infra.database.read_your_writes_s:g}",
            "CACHE_ENABLED": "1" if topology.cache else "0",
            "CACHE_TTL_S": f"{infra.cache.ttl_s:g}",
            "REQUEST_TIMEOUT_S": f"{infra.request_timeout_s:g}",
        }

    def _start_instances(self, work: Path) -> None:
        """K instances, each joining its CPU group before its program runs (so every worker
        it forks is in the group too); then wait until each is ready."""
        assert self.ledger is not None
        topology = self.plan.topology
        common = self.instance_environment()
        database_url = self.instance_database_url()
        cores = frozenset(topology.service_cores)
        limit = CpuLimit(topology.cpu_limit, cores)
        # Started on every core, unlimited, and limited and pinned once ready: importing the
        # service under a quarter core takes seconds of every run and measures nothing.
        starting = CpuLimit(float(os.cpu_count() or 1))
        for number in range(1, topology.instances + 1):
            name = f"{INSTANCE_PREFIX}{number}"
            group = CpuGroup(f"{self.ledger.path.stem}-{name}")
            self.ledger.record_cgroup(group.directories)
            group.create(starting)
            metrics_dir = work / f"metrics-{name}"
            metrics_dir.mkdir()
            environment = {
                **common,
                "INSTANCE_NAME": name,
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            service = BundledService(
                ServiceConfig(
                    workers=topology.workers_per_instance,
                    database_url=database_url,
                    seed=False,
                    ready_timeout_s=self.config.ready_timeout_s,
                    environment=tuple(sorted(environment.items())),
                    admin_token=self.config.admin_token,
                    redis_url=environment["REDIS_URL"],
                ),
                self.run_dir / "logs" / f"{name}.log",
                preexec=_joiner(group),
            )
            self.instances.append(LabInstance(name, group, service, metrics_dir))
            service.launch()
        for instance in self.instances:
            instance.service.wait_until_ready()
            instance.group.create(limit)

    def wait_until_ready(self) -> Self:
        """Wait until HAProxy has every instance UP, then pin the harness to the load cores
        and start sampling."""
        assert self.balancer is not None
        try:
            self.balancer.wait_all_up(HAPROXY_UP_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        self._affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, set(self.plan.topology.load_cores))
        self.sampler = lab_sampling.LabSampler(self.parts()).start()
        return self

    def parts(self) -> lab_sampling.LabParts:
        """The running parts, as the sampling reads them."""
        assert self.balancer is not None
        return lab_sampling.LabParts(
            self.plan.topology,
            self.instances,
            self.balancer,
            self.pooler,
            self.postgres,
            self.run_dir,
            self.cache_redis,
        )

    def alive(self) -> bool:
        """HAProxy runs and at least one instance is there to serve."""
        return (
            self.balancer is not None
            and self.balancer.process is not None
            and self.balancer.process.poll() is None
            and any(instance.service.alive() for instance in self.instances)
        )

    def kill_instance(self, index: int = 0) -> str:
        """SIGKILL every process of one instance (a crashed VM); what was done."""
        instance = self.instances[index]
        process = instance.service.process
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return f"{instance.name} (pid {process.pid}) killed (SIGKILL)"

    def instance_status(self, index: int = 0) -> str:
        """HAProxy's status of one instance (``UP``, ``DOWN``, ``UP 1/2``...)."""
        assert self.balancer is not None
        name = self.instances[index].name
        return next((s.status for s in self.balancer.sample() if s.server == name), "absent")

    def breaker_states(self, name: str) -> dict[str, str]:
        """Breaker ``name``'s state on each instance that answers, read from its own
        ``/health/ready`` (not through HAProxy, which would pick one)."""
        states = {}
        for instance in self.instances:
            if not instance.service.alive():
                continue
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                response = httpx.get(f"{instance.service.url}/health/ready", timeout=2.0)
                states[instance.name] = str(response.json()["breakers"][name]["state"])
        return states

    def scrape(self, t_s: float, timeout_s: float = 5.0) -> Scrape:
        """The instances' metrics summed, with each one's own figures and HAProxy's request
        count at that moment (docs/artifacts.md, server.json)."""
        return lab_sampling.lab_scrape(self.parts(), t_s, timeout_s)

    def lab_record(
        self, client_total: int, before: Scrape | None, after: Scrape | None
    ) -> LabRecord | None:
        """Stop sampling, write ``lab.jsonl``, and summarise the lab for run.json."""
        if self.sampler is None:
            return None
        self.sampler.stop()
        return lab_sampling.summarise(self.parts(), self.sampler, client_total, before, after)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop sampling and every part, newest first; the ledger removes whatever is left."""
        if self.sampler is not None:
            self.sampler.stop()
        if self._affinity is not None:
            os.sched_setaffinity(0, self._affinity)
            self._affinity = None
        if self.balancer is not None:
            self.balancer.stop()
        for instance in self.instances:
            instance.service.stop(timeout_s)
            instance.group.remove(kill_members=True)
        self.instances = []
        for part in (self.cache_redis, self.pooler, self.postgres):
            if part is not None:
                part.stop()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        self.process = None


def _joiner(group: CpuGroup) -> Callable[[], None]:
    """What the instance's child process runs first: join ``group``."""

    def join() -> None:
        group.add(os.getpid())

    return join


def _sqlalchemy_url(port: int, database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
