"""A lab's topology: every value that cannot work is refused with the value and the fix, the
connection arithmetic names its numbers, and the placement record says where each part runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.errors import UsageError
from harness.exit_codes import ExitCode
from harness.lab import programs
from harness.lab.pgbouncer import PoolSizing
from harness.lab.topology import LabTopology, check_machine, placement

TWO_CORES: dict[str, Any] = {"service_cores": (1,), "load_cores": (0,)}


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"instances": 0}, r"--instances 0: .* pass --instances 1 or more"),
        ({"cpu_limit": 1.5}, r"--cpu-limit 1.5: .* the 1 service core\(s\) \[1\] .* 1 or less"),
        ({"cpu_limit": 0}, r"--cpu-limit 0: expected more than 0"),
        ({"workers_per_instance": 0}, r"--workers 0"),
        ({"read_replicas": -1}, r"--read-replicas -1: expected 0 or more"),
        (
            {"postgres": False, "pooler": False, "read_replicas": 2},
            r"--read-replicas 2 needs PostgreSQL, .* is SQLite: .* drop --read-replicas",
        ),
        ({"postgres": False}, r"the pooler \(PgBouncer\) needs PostgreSQL"),
        ({"service_cores": ()}, r"both sides need at least one core"),
        (
            {"instances": 4, "workers_per_instance": 2, "pool_per_worker": 10},
            r"4 instances x 2 workers x 10 pool = 80 client connections, over PgBouncer's "
            r"max_client_conn 50: raise max_client_conn to 80",
        ),
        (
            {"pooler_sizing": PoolSizing(default_pool_size=90, reserve_pool_size=10)},
            r"default_pool_size 90 \+ reserve_pool_size 10 = 100 server connections, over "
            r"PostgreSQL's max_connections 100 - 3 reserved = 97",
        ),
        (
            {"pooler": False, "instances": 5, "workers_per_instance": 2, "pool_per_worker": 10},
            r"5 instances x 2 workers x 10 pool = 100 client connections without a pooler, over "
            r"PostgreSQL's max_connections 100 - 3 reserved = 97: .* raise max_connections to 103",
        ),
    ],
)
def test_a_topology_that_cannot_work_is_a_usage_error(values: dict[str, Any], match: str) -> None:
    settings = {**TWO_CORES, "pooler_sizing": PoolSizing(max_client_conn=50), **values}
    with pytest.raises(UsageError, match=match) as raised:
        LabTopology(**settings)
    assert raised.value.exit_code == ExitCode.BAD_INPUT


def test_connections_that_fit_exactly_are_accepted() -> None:
    topology = LabTopology(
        **TWO_CORES,
        instances=5,
        workers_per_instance=2,
        pool_per_worker=10,
        pooler_sizing=PoolSizing(max_client_conn=100, default_pool_size=90, reserve_pool_size=7),
    )
    assert topology.client_connections == 100
    direct = LabTopology(**TWO_CORES, pooler=False, instances=97, pool_per_worker=1)
    assert direct.client_connections == direct.usable_connections == 97


def test_sqlite_needs_only_haproxy_and_the_cache_its_own_redis() -> None:
    topology = LabTopology(**TWO_CORES, postgres=False, pooler=False, cache=False)
    assert topology.programs() == (programs.HAPROXY,)
    cached = LabTopology(**TWO_CORES, postgres=False, pooler=False, cache=True)
    assert cached.programs() == (programs.HAPROXY, programs.REDIS_SERVER)


def test_a_missing_program_names_every_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(programs, "SYSTEM_BIN_DIRS", ())
    monkeypatch.setattr(programs, "POSTGRES_INSTALL_ROOT", Path("/nonexistent"))
    with pytest.raises(
        UsageError,
        match=r"the lab needs haproxy, pgbouncer, initdb, redis-server, not installed here: "
        r"apt-get install haproxy pgbouncer postgresql redis-server",
    ):
        check_machine(LabTopology(**TWO_CORES))


def test_a_core_this_process_may_not_use_is_refused() -> None:
    topology = LabTopology(service_cores=(4096,), load_cores=(0,), postgres=False, pooler=False)
    with pytest.raises(UsageError, match=r"cores \[4096\]: this process may only use cores"):
        check_machine(topology)


def test_the_placement_puts_the_measured_parts_on_the_service_cores() -> None:
    topology = LabTopology(
        **TWO_CORES, instances=2, cpu_limit=0.5, workers_per_instance=2, read_replicas=1
    )
    record = placement(topology)
    assert json.loads(json.dumps(record)) == record, "JSON as it is"
    assert record["instances"] == [
        {"name": "instance_1", "cpus": [1], "cpu_limit_cores": 0.5, "workers": 2},
        {"name": "instance_2", "cpus": [1], "cpu_limit_cores": 0.5, "workers": 2},
    ]
    assert record["postgresql"] == {"cpus": [1], "max_connections": 100, "read_replicas": 1}
    assert record["haproxy"] == record["locust"] == {"cpus": [0]}
    assert record["pgbouncer"]["cpus"] == [0] and record["pgbouncer"]["max_client_conn"] == 100
    assert record["shared_cores"] == [] and record["client_connections"] == 40


def test_the_default_cores_split_the_machine_like_a_pinned_run() -> None:
    cores = sorted(os.sched_getaffinity(0))
    topology = LabTopology(cpu_limit=0.5)
    assert topology.service_cores == tuple(cores[:1])
    assert topology.load_cores == (tuple(cores[1:]) or tuple(cores[:1]))
