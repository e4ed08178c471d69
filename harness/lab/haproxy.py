"""HAProxy in front of the lab's K service instances.

``balance leastconn`` (a new request goes to the instance with the fewest requests under way:
what spreads uneven request costs best), health checks on ``GET /health/ready`` every
``check_interval_s`` (an instance failing ``fall`` checks in a row is taken out, one passing
``rise`` in a row is put back), and keep-alive to the instances (``http-reuse safe``: an idle
server connection is reused by the next request). It listens on a loopback port: a free one
unless ``BalancerSettings.port`` names one.

The stats socket (``show stat``, CSV) is read into :class:`ServerSample` records, one per
instance: a :class:`harness.lab.sampling.Sampler` over :meth:`HAProxy.sample` takes them every
second. HAProxy runs as the harness's user; it needs no privilege on a loopback port above
1024.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.lab.cleanup import LabLedger
from harness.lab.part import LabServer
from harness.lab.processes import PartFailed, port_open, wait_until
from harness.lab.programs import HAPROXY, ServerUser, find_program

BACKEND = "instances"
FRONTEND = "lab"
HEALTH_PATH = "/health/ready"
STATS_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class BalancerSettings:
    check_interval_s: float = 1.0
    fall: int = 2
    """Failed checks in a row that take an instance out."""
    rise: int = 2
    """Passed checks in a row that put it back."""
    server_maxconn: int | None = None
    """Requests one instance gets at once; the rest wait in HAProxy's queue. None: no limit."""
    timeout_connect_s: float = 2.0
    timeout_server_s: float = 60.0
    timeout_queue_s: float = 30.0
    timeout_check_s: float | None = None
    """How long a health check may take to answer; None: ``check_interval_s`` (HAProxy's
    default). A dead instance fails at once (connection refused) whatever this is."""
    cpus: frozenset[int] | None = None
    start_timeout_s: float = 15.0
    port: int = 0
    """The front door's loopback port; 0: a free one (``harness serve --port`` gives one)."""

    def __post_init__(self) -> None:
        if not self.check_interval_s > 0:
            raise UsageError(f"check interval: {self.check_interval_s} s; expected more than 0")
        for name in ("fall", "rise"):
            if getattr(self, name) < 1:
                raise UsageError(f"health check {name}: {getattr(self, name)}; expected 1 or more")


@dataclass(frozen=True, slots=True)
class ServerSample:
    """One instance as HAProxy saw it at ``at`` (Unix time). Times are HAProxy's averages over
    the instance's last 1024 requests."""

    at: float
    server: str
    status: str
    """``UP``, ``DOWN``, or a transition such as ``UP 1/2`` (failing, not yet out)."""
    sessions_current: int
    sessions_total: int
    """Requests sent to it since HAProxy started (each request is a session of its own)."""
    queue_current: int
    queue_time_ms: int
    connect_time_ms: int
    response_time_ms: int
    total_time_ms: int
    responses_5xx: int
    failed_checks: int


def _config(
    ports: tuple[int, ...], port: int, socket_path: Path, settings: BalancerSettings
) -> str:
    maxconn = f" maxconn {settings.server_maxconn}" if settings.server_maxconn else ""
    check = settings.timeout_check_s
    timeout_check = f"    timeout check {check * 1000:.0f}ms\n" if check else ""
    servers = "".join(
        f"    server instance_{number} 127.0.0.1:{backend} check{maxconn}\n"
        for number, backend in enumerate(ports, start=1)
    )
    return f"""\
global
    stats socket {socket_path} mode 600 level admin

defaults
    mode http
    option http-keep-alive
    http-reuse safe
    # A request that cannot reach its instance (it died, not yet taken out) goes to another:
    # it never got there, so sending it elsewhere cannot do anything twice.
    retries 3
    option redispatch 1
    retry-on conn-failure
    timeout connect {settings.timeout_connect_s * 1000:.0f}ms
    timeout client {settings.timeout_server_s * 1000:.0f}ms
    timeout server {settings.timeout_server_s * 1000:.0f}ms
    timeout queue {settings.timeout_queue_s * 1000:.0f}ms
    timeout http-keep-alive 10s
{timeout_check}
frontend {FRONTEND}
    bind 127.0.0.1:{port}
    default_backend {BACKEND}

backend {BACKEND}
    balance leastconn
    option httpchk GET {HEALTH_PATH}
    http-check expect status 200
    # observe layer4: a connection an instance refuses takes it out at once (a dead instance
    # has no connections, so leastconn would pick it for every retry until its checks fail).
    default-server inter {settings.check_interval_s * 1000:.0f}ms fall {settings.fall} \
rise {settings.rise} observe layer4 error-limit 1 on-error mark-down
{servers}"""


class HAProxy(LabServer):
    """HAProxy balancing over instances on ``backend_ports`` (see the module docstring)."""

    label = "haproxy"

    def __init__(
        self,
        ledger: LabLedger,
        backend_ports: tuple[int, ...],
        settings: BalancerSettings | None = None,
    ) -> None:
        if not backend_ports:
            raise UsageError("haproxy backends: none given; expected the port of each instance")
        self.backend_ports = backend_ports
        self.settings = settings or BalancerSettings()
        super().__init__(
            ledger, self.settings.cpus, self.settings.start_timeout_s, self.settings.port
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "stats.sock"

    def prepare(self, directory: Path) -> tuple[list[str], ServerUser | None]:
        config = directory / "haproxy.cfg"
        config.write_text(_config(self.backend_ports, self.port, self.socket_path, self.settings))
        # -db: stay in the foreground, so the pid recorded is the one that serves.
        return [str(find_program(HAPROXY)), "-db", "-f", str(config)], None

    def ready(self) -> bool:
        """Listening, and its stats socket is there (the instances may still be checked)."""
        return port_open(self.port) and self.socket_path.exists()

    def command(self, line: str) -> str:
        """Send one command to the stats socket; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(STATS_TIMEOUT_S)
            connection.connect(str(self.socket_path))
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def sample(self) -> list[ServerSample]:
        """One record per instance from ``show stat``."""
        text = self.command("show stat").lstrip("# ")
        now = time.time()
        return [
            ServerSample(
                now,
                row["svname"],
                row["status"],
                _int(row["scur"]),
                _int(row["stot"]),
                _int(row["qcur"]),
                _int(row["qtime"]),
                _int(row["ctime"]),
                _int(row["rtime"]),
                _int(row["ttime"]),
                _int(row["hrsp_5xx"]),
                _int(row["chkfail"]),
            )
            for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
        ]

    def request_counts(self) -> tuple[int, int]:
        """From one reading of the stats: the HTTP requests the front door received since
        HAProxy started (the frontend's ``req_tot``), and those it passed to an instance (the
        instances' ``stot`` summed). The difference is what HAProxy answered itself: a 503
        when a request waited in its queue past ``timeout queue``, or no instance was up."""
        text = self.command("show stat").lstrip("# ")
        received, passed, found = 0, 0, False
        for row in csv.DictReader(io.StringIO(text)):
            if row["pxname"] == FRONTEND and row["svname"] == "FRONTEND":
                received, found = _int(row["req_tot"]), True
            elif row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND"):
                passed += _int(row["stot"])
        if not found:
            raise PartFailed(f"haproxy's stats have no row for the frontend {FRONTEND!r}")
        return received, passed

    def wait_status(self, server: str, status: str, timeout_s: float) -> None:
        """Wait until ``server`` has ``status`` (``UP`` or ``DOWN``); PartFailed after
        ``timeout_s``."""

        def reached() -> bool:
            return any(s.server == server and s.status == status for s in self.sample())

        wait_until(reached, timeout_s, f"haproxy server {server} {status}", self.log_path)

    def wait_all_up(self, timeout_s: float) -> None:
        """Wait until every instance passed its health checks; PartFailed after ``timeout_s``."""

        def all_up() -> bool:
            samples = self.sample()
            return len(samples) == len(self.backend_ports) and all(
                s.status == "UP" for s in samples
            )

        try:
            wait_until(all_up, timeout_s, "haproxy's instances UP", self.log_path)
        except PartFailed as exc:
            states = {s.server: s.status for s in self.sample()}
            raise PartFailed(f"{exc}\nstates: {states}") from exc


def _int(value: str) -> int:
    """A stats field; HAProxy leaves a field empty where it does not apply."""
    return int(value) if value else 0
