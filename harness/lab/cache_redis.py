"""The cache's own Redis: a ``redis-server`` of the lab, apart from the machine's shared one.

The lab's instances keep their rate-limit counts and injected faults in the shared Redis
(``REDIS_URL``, the machine's on port 6379, which other runs and tests use too) and their
cache in this one (``CACHE_REDIS_URL``), so that a chaos run can kill the cache and nothing
else: killing the shared Redis would take every other user of it down with it.

It runs in the foreground from a directory of its own (``redis-server <dir>/redis.conf``: the
command line names the directory, which is how a cleanup finds it), on a loopback port, with
no persistence (no RDB snapshot, no append-only file: a cache restarted empty is a cold
cache, never a stale one), as the harness's own user.

* **Killed** by :meth:`CacheRedis.kill` (SIGKILL: a crashed cache host; its memory is gone).
* **Started again** by :meth:`CacheRedis.restart` on the same port, with the same
  configuration, empty; the new process is recorded in the ledger before it is waited for.
* **Sampled** by :meth:`CacheRedis.sample`: keys, memory, clients, hits and misses from
  ``INFO``, or ``up=False`` while it does not answer (a sample never raises).
* **Cleaned up** by ``stop()``: SIGTERM, then its directory is deleted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from harness.lab.cleanup import LabLedger
from harness.lab.part import LabServer
from harness.lab.processes import identify, spawn, stop_child, wait_until
from harness.lab.programs import REDIS_SERVER, ServerUser, find_program

PING_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class RedisSample:
    """One reading of the cache's Redis at ``at`` (Unix time); the figures are None while it
    is down."""

    at: float
    up: bool
    keys: int | None = None
    used_memory_bytes: int | None = None
    connected_clients: int | None = None
    hits: int | None = None
    """``keyspace_hits`` since this process started (a restart begins again at 0)."""
    misses: int | None = None
    error: str | None = None


class CacheRedis(LabServer):
    """The cache's own ``redis-server`` (see the module docstring)."""

    label = "redis"

    def __init__(
        self,
        ledger: LabLedger,
        cpus: frozenset[int] | None = None,
        start_timeout_s: float = 15.0,
    ) -> None:
        super().__init__(ledger, cpus, start_timeout_s)
        self._command: list[str] = []
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def prepare(self, directory: Path) -> tuple[list[str], ServerUser | None]:
        config = directory / "redis.conf"
        config.write_text(
            "# The lab's cache (harness/lab/redis.py): loopback, no persistence.\n"
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\ndaemonize no\n"
            f'save ""\nappendonly no\ndir {directory}\nlogfile ""\n'
        )
        self._command = [str(find_program(REDIS_SERVER)), str(config)]
        return list(self._command), None

    def _client(self) -> Any:
        return redis.Redis.from_url(
            self.url, socket_timeout=PING_TIMEOUT_S, socket_connect_timeout=PING_TIMEOUT_S
        )

    def ready(self) -> bool:
        """True once it answers PING."""
        client = self._client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> str:
        """SIGKILL the server (a crashed cache host); what was done."""
        assert self.process is not None, "start() first"
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10.0)
        return f"cache redis-server (pid {pid}, port {self.port}) killed (SIGKILL)"

    def restart(self) -> str:
        """Start it again on the same port with the same configuration, empty; what was done.
        PartFailed (with its log) when it does not answer in time."""
        assert self.directory is not None and self._command, "start() first"
        if self.process is not None and self.process.poll() is None:
            stop_child(self.process, self.stop_signal, self.stop_timeout_s)
        self.process = spawn(self._command, self.log_path, cpus=self.cpus)
        self.identity = identify(self.process.pid)
        self.ledger.record_process(self.identity, self.label, self.stop_signal)
        wait_until(
            self.ready, self.start_timeout_s, f"redis on port {self.port}", self.log_path,
            self.process,
        )  # fmt: skip
        self.restarts += 1
        return f"cache redis-server started again on port {self.port} (pid {self.process.pid})"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sample(self) -> RedisSample:
        """One reading (module docstring); never raises."""
        now = time.time()
        client = self._client()
        try:
            info = client.info()
            keys = int(client.dbsize())
        except redis.RedisError as exc:
            return RedisSample(now, False, error=type(exc).__name__)
        finally:
            client.close()
        return RedisSample(
            now,
            True,
            keys=keys,
            used_memory_bytes=int(info.get("used_memory", 0)),
            connected_clients=int(info.get("connected_clients", 0)),
            hits=int(info.get("keyspace_hits", 0)),
            misses=int(info.get("keyspace_misses", 0)),
        )
