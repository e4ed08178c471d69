"""``harness serve``: start the bundled marketplace service, seeded, and keep it running.

Starts ``target_app`` under uvicorn on a loopback port (``--port``, default 8000), seeds its
database (a fresh SQLite file unless ``--database-url``), waits until ``/health/ready``
answers, prints the address, and runs until Ctrl-C. With ``--workers`` > 1 the service needs
Redis for shared rate-limit state (``$REDIS_URL``, default the loopback Redis).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from harness.commands.common import require_port, require_positive
from harness.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free)")
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


def run(args: argparse.Namespace) -> int:
    from harness.run.service import BundledService, ServiceConfig

    if args.workers < 1:
        raise UsageError(f"--workers = {args.workers}: must be >= 1")
    require_port("--port", args.port, allow_any=True)
    require_positive("--seed-scale", args.seed_scale)
    config = ServiceConfig(
        workers=args.workers,
        database_url=args.database_url,
        seed_scale=args.seed_scale,
        seed=not args.no_seed,
        port=args.port,
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
    service = BundledService(config, args.log)
    started = time.monotonic()
    try:
        service.start()
        print(
            f"serving on {service.url}  (database {service.database_url}, "
            f"{args.workers} worker(s), ready in {time.monotonic() - started:.1f} s; "
            "Ctrl-C stops)",
            flush=True,
        )
        while service.alive():
            time.sleep(0.5)
        code = service.process.returncode if service.process else None
        print(f"harness serve: the service exited with code {code}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("harness serve: stopping", file=sys.stderr)
        return 0
    finally:
        service.stop()
