"""The bundled service as a child process: start, seed, wait until ready, stop.

``harness run`` without ``--host``, ``harness serve`` and the tests all start the service the
same way::

    with BundledService(ServiceConfig(workers=1, seed_scale=0.01), log_path) as service:
        service.url            # http://127.0.0.1:<free port>
        service.database_url   # what the integrity audit reads

The service runs as ``python -m target_app serve`` in its own process group (uvicorn with
several workers forks), so stopping it stops every worker and nothing else. Its settings come
from environment variables only (the service imports nothing of ours): ``DEV_MODE=1`` (a
throwaway secret per start), ``TRUSTED_PROXIES=127.0.0.1`` (so each simulated user's
forwarded address counts for rate limits), ``DATABASE_URL`` (a fresh SQLite file unless
given) and ``REDIS_URL`` when there is more than one worker (shared rate-limit state).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from harness.errors import HarnessError, TargetUnreachable
from harness.run.process_cpu import group_cpu_s
from harness.run.scrape import Scrape, fetch_metrics
from models.lab_records import LabRecord
from models.profile import Profile

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ServiceFailed(HarnessError):
    """The bundled service could not be started (exit 3: there is no target to test)."""

    exit_code = TargetUnreachable.exit_code


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    workers: int = 1
    database_url: str | None = None
    """None: a fresh SQLite database in a temporary directory, deleted afterwards."""
    seed_scale: float = 0.01
    seed: bool = True
    redis_url: str | None = None
    """Used when ``workers > 1``; default ``$REDIS_URL`` or the loopback Redis."""
    port: int = 0
    """0 picks a free port on :attr:`host`."""
    host: str = "127.0.0.1"
    """The address the service listens on: loopback, unless other machines (or network
    namespaces) send the load."""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    """Peers whose ``X-Forwarded-For`` the service believes: the load generators' addresses,
    so that each simulated user is rate-limited as its own client."""
    ready_timeout_s: float = 60.0
    cpu_affinity: frozenset[int] | None = None
    """CPUs the service may run on (Linux); its worker processes inherit them."""
    environment: tuple[tuple[str, str], ...] = ()
    """Further settings for the service (see :func:`profile_environment`)."""
    admin_token: str | None = None
    """Set ``ADMIN_TOKEN``: mounts ``/admin/faults`` (chaos runs) and puts ``/metrics`` behind
    the token (:attr:`BundledService.admin_headers`). None: neither is guarded nor mounted."""


def profile_environment(profile: Profile) -> tuple[tuple[str, str], ...]:
    """The service settings the profile decides: rate-limit tiers, breakers, the pool, retries.

    The bundled service then enforces what the model assumes, so a load test measures the
    configuration the profile describes.
    """
    infra = profile.infrastructure
    limits, pool = infra.rate_limits, infra.database
    settings = {
        "RATE_LIMIT_ANONYMOUS": str(limits.anonymous),
        "RATE_LIMIT_AUTHENTICATED": str(limits.authenticated),
        "RATE_LIMIT_PRO": str(limits.pro),
        "RATE_LIMIT_OPERATOR": str(limits.operator),
        "DB_POOL_MIN": str(pool.pool_min),
        "DB_POOL_MAX": str(pool.pool_max),
        "DB_POOL_TIMEOUT_S": f"{pool.acquire_timeout_s:g}",
        "PAYMENT_RETRY_S": f"{infra.retries.payment_retry_s:g}",
        "OUTBOX_BACKOFF_MAX_S": f"{infra.retries.outbox_backoff_max_s:g}",
    }
    for name in type(infra.breakers).model_fields:
        breaker = getattr(infra.breakers, name)
        settings[f"BREAKER_{name.upper()}"] = (
            f"{breaker.failures}/{breaker.timeout_s:g}/{breaker.reset_s:g}"
        )
    return tuple(sorted(settings.items()))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_ready(
    url: str, timeout_s: float, alive: object = None, path: str = "/health/ready"
) -> None:
    """Poll ``{url}{path}`` until it answers 200; TargetUnreachable after ``timeout_s``.

    ``alive`` (a ``subprocess.Popen``) makes the wait end at once when the process exits.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if isinstance(alive, subprocess.Popen) and alive.poll() is not None:
            raise ServiceFailed(f"the service exited with code {alive.returncode} before ready")
        try:
            response = httpx.get(f"{url}{path}", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{path} answered {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise TargetUnreachable(url, f"not ready after {timeout_s:g} s ({last})")


class BundledService:
    """A running ``target_app`` (see the module docstring). Use it as a context manager."""

    def __init__(
        self,
        config: ServiceConfig,
        log_path: Path | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.log_path = log_path
        self.preexec = preexec
        """Run in the child before the service's program: how a lab instance joins its CPU
        group before it forks a worker."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = config.port
        self.database_url = config.database_url or ""
        self.redis_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def admin_headers(self) -> dict[str, str]:
        """What ``/metrics`` and ``/admin/*`` need (nothing unless an admin token is set)."""
        token = self.config.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def database_kind(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    def start(self) -> Self:
        """Seed, start the service's process and wait until it is ready."""
        return self.launch().wait_until_ready()

    def launch(self) -> Self:
        """Seed and start the service's process, without waiting for it: the caller may do
        other work while it starts, then :meth:`wait_until_ready`."""
        config = self.config
        if config.database_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="harness-service-")
            self.database_url = f"sqlite:///{Path(self._tmp.name) / 'marketplace.db'}"
        if config.seed:
            self._seed()
        self.port = config.port or free_port(config.host)
        env = dict(os.environ)
        env.update(
            {
                "DEV_MODE": "1",
                "TRUSTED_PROXIES": ",".join(config.trusted_proxies),
                "DATABASE_URL": self.database_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(dict(config.environment))
        env.pop("ADMIN_TOKEN", None)  # /metrics is scrapeable without a token...
        if config.admin_token is not None:  # ...unless the run needs /admin/faults
            env["ADMIN_TOKEN"] = config.admin_token
        if config.workers > 1:
            self.redis_url = config.redis_url or os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
            env["REDIS_URL"] = self.redis_url
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        command = [
            sys.executable,
            "-m",
            "target_app",
            "serve",
            "--host",
            config.host,
            "--port",
            str(self.port),
            "--workers",
            str(config.workers),
        ]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches every worker
            preexec_fn=self.preexec,
        )
        if config.cpu_affinity:
            # Set before uvicorn has spawned anything, so every worker inherits it.
            os.sched_setaffinity(self.process.pid, config.cpu_affinity)
        return self

    def wait_until_ready(self) -> Self:
        """Wait for ``/health/ready`` of the launched service; stop it if it never is."""
        try:
            wait_ready(self.url, self.config.ready_timeout_s, alive=self.process)
        except HarnessError:
            self.stop()
            raise
        return self

    @property
    def direct_database_url(self) -> str | None:
        """The database as the audit reads it when the run's own ``--database-url`` is not it
        (a lab's own PostgreSQL); None: the run's URL is the truth."""
        return None

    def scrape(self, t_s: float, timeout_s: float = 5.0) -> Scrape:
        """The service's ``/metrics`` as one scrape record (``httpx.HTTPError`` when it
        cannot be read)."""
        return fetch_metrics(self.url, t_s, timeout_s=timeout_s, headers=self.admin_headers)

    def lab_record(
        self, client_total: int, before: Scrape | None, after: Scrape | None
    ) -> LabRecord | None:
        """The ``lab`` section of run.json; None for a service that runs alone."""
        return None

    def process_cpu_s(self) -> float | None:
        """CPU seconds the kernel has counted for the service's process group (its workers
        included: :mod:`harness.run.process_cpu`); None when it is not running."""
        process = self.process
        if process is None or process.poll() is not None:
            return None
        return group_cpu_s(process.pid)  # its own session and group: start_new_session

    def seeded_accounts(self) -> tuple[tuple[str, int], ...]:
        """How many accounts of each persona the seeder made: the journeys log in as these."""
        from target_app.seed import SeedPlan

        plan = SeedPlan.for_scale(self.config.seed_scale)
        return (
            ("homeowner", plan.homeowners),
            ("contractor", plan.contractors),
            ("operator", plan.operators),
        )

    def _seed(self) -> None:
        # Imported here: only commands that start the service pay for importing it.
        from target_app.seed import SeedPlan, seed_database

        try:
            seed_database(self.database_url, SeedPlan.for_scale(self.config.seed_scale))
        except Exception as exc:
            raise ServiceFailed(
                f"seeding {self.database_url} at scale {self.config.seed_scale} failed: {exc}"
            ) from exc

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the service's process group, then SIGKILL what is left after ``timeout_s``."""
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5.0)
            # Forked uvicorn workers may outlive the parent by a moment: reap the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
