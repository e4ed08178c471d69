"""``harness worker --master-host HOST``: join a distributed run as Locust worker processes.

Run this on each load-generator machine (same checkout, same Python environment) after
``harness run SCENARIO --expect-workers K`` has started on the master machine. The master sends
the scenario and the journeys' options with every spawn message; the profile file is read
locally (``--profile``; it must describe the same workload as the master's). ``--processes K``
starts K worker processes, one per CPU core you want to use. Ctrl-C stops them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from harness.commands.common import require_port
from harness.errors import UsageError
from harness.exit_codes import ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--master-host", required=True, help="host name or address of the master")
    parser.add_argument("--master-port", type=int, default=5557, help="the master's port (5557)")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="K",
        help="worker processes to start on this machine (1)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="the workload profile (the same one the master uses)",
    )
    parser.add_argument(
        "--locustfile",
        type=Path,
        metavar="FILE",
        help="the master's own locustfile (harness run --locustfile), the same file here",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each worker's log here (default: the current directory)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.run.locust_runner import start_process, worker_command, worker_env

    if args.processes < 1:
        raise UsageError(f"--processes = {args.processes}: must be >= 1")
    require_port("--master-port", args.master_port)
    if args.profile is not None and not args.profile.is_file():
        raise UsageError(f"--profile = {str(args.profile)!r}: file not found")
    if args.locustfile is not None and not args.locustfile.is_file():
        raise UsageError(f"--locustfile = {str(args.locustfile)!r}: file not found")
    log_dir = args.log_dir or Path()
    own = args.locustfile.resolve() if args.locustfile else None
    command = worker_command(args.master_host, args.master_port, own)
    env = worker_env(args.profile.resolve() if args.profile else None)
    workers = [
        start_process(f"worker-{i}", command, env, log_dir / f"harness-worker-{i}.log")
        for i in range(args.processes)
    ]
    print(
        f"harness worker: {args.processes} process(es) joining {args.master_host}:"
        f"{args.master_port} (logs: {log_dir.resolve()}/harness-worker-*.log)",
        file=sys.stderr,
    )
    interrupted = False

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        while any(w.poll() is None for w in workers):
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
    for worker in workers:
        worker.stop(timeout_s=10.0)
    codes = [w.exit_code for w in workers]
    print(f"harness worker: done (exit codes {codes})", file=sys.stderr)
    if interrupted:
        return int(ExitCode.OK)
    return int(ExitCode.OK) if all(c == 0 for c in codes) else int(ExitCode.UNREACHABLE)
