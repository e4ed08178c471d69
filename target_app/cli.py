"""``python -m target_app serve|seed``: run the service, or fill its database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from target_app.core.errors import ConfigError, SeedError
from target_app.seed import SeedPlan, seed_database


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m target_app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service under uvicorn")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--database-url", default=None, help="overrides DATABASE_URL")
    serve.add_argument("--log-level", default="warning")
    seed = commands.add_parser("seed", help="fill an empty database deterministically")
    seed.add_argument("--database-url", required=True)
    seed.add_argument("--scale", type=float, default=0.01, help="1.0 = 400,000 users")
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--reset", action="store_true", help="drop existing tables first")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2: bad usage or configuration)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from target_app.server import run  # uvicorn only when serving

            run(
                port=args.port,
                workers=args.workers,
                host=args.host,
                database_url=args.database_url,
                log_level=args.log_level,
            )
            return 0
        plan = SeedPlan.for_scale(args.scale, seed=args.seed)
        report = seed_database(args.database_url, plan, reset=args.reset)
    except (ConfigError, SeedError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{name} {count:,}" for name, count in report.rows.items())
    print(
        f"seeded {rows} in {report.total_s:.1f} s "
        f"(load {report.load_s:.1f} s, indexes {report.index_s:.1f} s)"
    )
    return 0
