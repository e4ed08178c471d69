"""The cache's own Redis of the lab (``harness/lab/cache_redis.py``): started on a free port with
no persistence, sampled, killed and started again on the same port (empty), cleaned up."""

from __future__ import annotations

import redis

from harness.lab.cache_redis import CacheRedis
from harness.lab.cleanup import LabLedger
from harness.lab.processes import port_open, processes_naming
from harness.lab.programs import REDIS_SERVER
from tests.harness.lab.conftest import require_programs


def test_killed_and_started_again_on_its_port_empty_then_removed(ledger: LabLedger) -> None:
    require_programs(REDIS_SERVER)
    cache = CacheRedis(ledger).start()
    directory, port = cache.directory, cache.port
    assert directory is not None and port > 0
    client = redis.Redis.from_url(cache.url)
    try:
        client.set("page", b"cached", px=60_000)
        client.get("page")
        up = cache.sample()
        assert up.up and up.keys == 1 and up.hits == 1 and up.used_memory_bytes
        assert "save" in (directory / "redis.conf").read_text()  # no RDB, no AOF
        killed = cache.kill()
        assert f"port {port}" in killed and "SIGKILL" in killed
        assert not port_open(port) and not cache.ready()
        down = cache.sample()  # a sample of a dead cache says so instead of raising
        assert not down.up and down.keys is None and down.error
        assert f"port {port}" in cache.restart()
        assert cache.port == port and cache.ready() and cache.restarts == 1
        assert client.get("page") is None  # started empty: a cold cache, never a stale one
        assert cache.sample().keys == 0
        assert {path.name for path in directory.iterdir()} == {"redis.conf", "redis.log"}
    finally:
        client.close()
        cache.stop()
    assert not port_open(port) and not directory.exists()
    assert processes_naming(directory) == []


def test_a_restarted_cache_left_running_is_removed_by_the_ledger(ledger: LabLedger) -> None:
    require_programs(REDIS_SERVER)
    cache = CacheRedis(ledger).start()
    cache.kill()
    cache.restart()  # the new process is recorded before it is waited for
    port, directory = cache.port, cache.directory
    assert directory is not None
    ledger.close()
    assert not port_open(port) and not directory.exists()
    cache.stop()  # reaps our child, which the ledger stopped by its pid
