"""``harness serve``: start the bundled marketplace service, seeded, and keep it running.

Starts ``target_app`` under uvicorn on a loopback port (``--port``, default 8000; ``--bind``
another address when the load comes from other machines), or the lab with HAProxy's front door
on ``--port`` (default, or 0: a free one; docs/lab.md), seeds its
database (a fresh SQLite file unless ``--database-url``), waits until ``/health/ready``
answers, prints the address, and runs until Ctrl-C. With ``--workers`` > 1 the service needs
Redis for shared rate-limit state (``$REDIS_URL``, default the loopback Redis). When the
service stops by itself (before ready or while serving) the error quotes the last lines of its
output, which say why: a ``SECRET_KEY`` it refuses, a port in use. Exit 3 then.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands.common import (
    add_profile_argument,
    profile_from_args,
    require_port,
    require_positive,
)
from harness.commands.lab_options import add_lab_arguments, lab_request
from harness.errors import HarnessError, UsageError
from harness.exit_codes import ExitCode

if TYPE_CHECKING:
    from harness.run.service import BundledService, ServiceConfig

DEFAULT_PORT = 8000
"""The bundled service's port when ``--port`` is not given (the lab's front door: a free one)."""
#: How much of the service's output an error quotes: the last lines, read from the last bytes.
TAIL_LINES = 20
TAIL_BYTES = 16_384


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (0: any free; default {DEFAULT_PORT}, or a free one for the lab's front door)",
    )
    parser.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="listen on this IP address (default 127.0.0.1; another for remote load generators)",
    )
    parser.add_argument(
        "--trusted-proxies",
        default="127.0.0.1",
        metavar="ADDRESSES",
        help="comma-separated load generator (or proxy) addresses whose X-Forwarded-For is "
        "believed, so each simulated user is rate-limited as its own client (127.0.0.1)",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="W", help="uvicorn workers")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL (default: a fresh SQLite file, deleted on exit)",
    )
    parser.add_argument(
        "--seed-scale",
        type=float,
        default=0.01,
        metavar="F",
        help="seed at this scale (1.0 = 400,000 users; 0.01 in about a second)",
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="do not seed (the database is already filled)"
    )
    parser.add_argument("--log", type=Path, metavar="FILE", help="write the service's log here")
    add_profile_argument(parser)
    add_lab_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from harness.run.service import ServiceConfig

    if args.workers < 1:
        raise UsageError(f"--workers = {args.workers}: must be >= 1")
    if args.port is not None:
        require_port("--port", args.port, allow_any=True)
    require_positive("--seed-scale", args.seed_scale)
    config = ServiceConfig(
        host=ip_address_of("--bind", args.bind),
        trusted_proxies=tuple(
            ip_address_of("--trusted-proxies", part)
            for part in args.trusted_proxies.split(",")
            if part.strip()
        ),
        workers=args.workers,
        database_url=args.database_url,
        seed_scale=args.seed_scale,
        seed=not args.no_seed,
        port=DEFAULT_PORT if args.port is None else args.port,
        # ADMIN_TOKEN in the environment mounts /admin/faults (fault injection by hand,
        # README "The bundled service and its resilience"); without it the API is absent.
        admin_token=os.environ.get("ADMIN_TOKEN") or None,
    )

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Explicitly, not left to Python: a process started in the background by a
    # non-interactive shell (or by a parent that ignores SIGINT) inherits SIGINT as ignored,
    # and Python then installs no KeyboardInterrupt handler, so Ctrl-C would do nothing.
    signal.signal(signal.SIGINT, on_term)
    # The service's output always goes to a file: when it stops, its last lines say why (a
    # setting it refuses, a port in use), and the error quotes them. Without --log the file is
    # temporary.
    with tempfile.TemporaryDirectory(prefix="harness-serve-") as scratch:
        log = args.log if args.log is not None else Path(scratch) / "service.log"
        service = _service(args, config, log, Path(scratch))
        return _serve(service, log, kept=args.log is not None)


def ip_address_of(flag: str, value: str) -> str:
    """``value`` as a normalised IP address; UsageError (exit 2) naming ``flag`` otherwise.
    The service binds and compares peers by address, so host names are refused here rather
    than failing inside uvicorn."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise UsageError(
            f"{flag} = {value!r}: not an IP address (e.g. 127.0.0.1 or 10.0.0.4)"
        ) from None


def _service(
    args: argparse.Namespace, config: ServiceConfig, log: Path, scratch: Path
) -> BundledService:
    """The bundled service, or the lab in front of it (its instances' logs, ``lab.jsonl``
    under ``scratch``, or beside ``--log``). The lab is checked here, before anything
    starts."""
    from harness.run.lab_plan import plan_lab
    from harness.run.lab_target import LabService
    from harness.run.service import BundledService, profile_environment

    profile = profile_from_args(args)
    lab = lab_request(args, profile, args.workers)
    if lab is None:
        return BundledService(config, log)
    if config.host != "127.0.0.1":
        raise UsageError(
            f"--bind {config.host} with the lab: its parts listen on 127.0.0.1 only; drop "
            "--bind, or serve the bundled service alone"
        )
    port = args.port or 0  # HAProxy's front door: the port asked for, else a free one
    if port:
        _require_free(port)
    plan = plan_lab(lab, profile, args.database_url)
    environment = profile_environment(profile)
    lab_dir = log.parent if args.log is not None else scratch
    lab_config = replace(config, environment=environment, port=port)
    return LabService(lab_config, plan, profile, lab_dir)


def _require_free(port: int) -> None:
    """UsageError (exit 2, before the lab starts) when something listens on ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(
                f"--port {port}: 127.0.0.1:{port} is taken ({exc.strerror}); pick another "
                "port, or --port 0 for a free one"
            ) from None


def _serve(service: BundledService, log: Path, kept: bool) -> int:
    """Start the service, print its address, wait until Ctrl-C or until it exits; ``kept``
    says whether ``log`` outlives the command (an error then names it)."""
    from harness.run.service import ServiceFailed

    config = service.config
    start_of_run = log.stat().st_size if log.exists() else 0  # --log appends to earlier runs
    started = time.monotonic()
    try:
        try:
            service.start()
        except HarnessError as exc:
            raise ServiceFailed(with_service_output(str(exc), log, start_of_run, kept)) from exc
        print(
            f"serving on {service.url}  (database {service.database_url}, "
            f"{config.workers} worker(s), ready in {time.monotonic() - started:.1f} s; "
            "Ctrl-C stops)",
            flush=True,
        )
        while service.alive():
            time.sleep(0.5)
        code = service.process.returncode if service.process else None
        exited = f"the service exited with code {code}"
        message = with_service_output(exited, log, start_of_run, kept)
        print(f"harness serve: {message}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    except KeyboardInterrupt:
        print("harness serve: stopping", file=sys.stderr)
        return int(ExitCode.OK)
    finally:
        service.stop()


def with_service_output(message: str, log: Path, start: int, name_log: bool) -> str:
    """``message`` followed by the service's last lines of output since byte ``start`` of
    ``log`` (indented; ``name_log``: saying where the whole log is), or ``message`` alone when
    the service wrote nothing."""
    try:
        with log.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(start, size - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return message
    lines = [line.rstrip() for line in text.splitlines() if line.strip()][-TAIL_LINES:]
    if not lines:
        return message
    where = f" (all of it in {log})" if name_log else ""
    return f"{message}; the service's last output{where}:\n" + "\n".join(
        f"  {line}" for line in lines
    )
