"""``harness health [--host URL]``: the launch-readiness check, one line per check.

Ten checks (harness/health_checks.py): reachable, liveness, readiness, database, pool headroom,
a login with a seeded account, read endpoints under the API p95 objective, rate-limit headers,
metrics, circuit breakers. Exit 0 when every check passes (a feature the service does not offer
is reported, not failed, and so is a check that could not be made, e.g. the rate-limit headers
when the login was refused), 1 when one fails, 3 when the host cannot be reached at all.
"""

from __future__ import annotations

import argparse
import sys

from harness.commands.common import add_profile_argument, profile_from_args, require_positive
from harness.exit_codes import ExitCode

SYMBOLS = {
    "pass": ("PASS", "green", "✔"),
    "fail": ("FAIL", "red", "✘"),
    "not offered": ("N/A ", "yellow", "–"),
    "not checked": ("SKIP", "yellow", "?"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="http://127.0.0.1:8000", help="the service's URL")
    add_profile_argument(parser)
    parser.add_argument(
        "--non-interactive",
        action="store_true",
        help="plain PASS/FAIL lines without colour (for CI logs and scripts)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="timeout of each request in seconds",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.health_checks import Status, reachable, run_checks

    require_positive("--timeout", args.timeout)
    profile = profile_from_args(args)
    host = str(args.host).rstrip("/")
    plain = args.non_interactive or not sys.stdout.isatty()
    console = Console(
        no_color=plain, highlight=False, force_terminal=False if plain else None, soft_wrap=True
    )
    problem = reachable(host, timeout_s=args.timeout)
    if problem is not None:
        console.print(
            f"{'FAIL' if plain else '[red]✘[/red]'}  1 reachable          {host}: {problem}",
            markup=not plain,
        )
        print(f"harness health: cannot reach {host}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    results = run_checks(host, profile.slo.api_p95_ms, timeout_s=args.timeout)
    for result in results:
        word, colour, symbol = SYMBOLS[result.status.value]
        line = f"{result.number:>2} {result.name:<19} {result.detail}"
        if plain:
            console.print(f"{word}  {line}", markup=False)
        else:
            console.print(f"[{colour}]{symbol}[/{colour}] ", end="")
            console.print(line, markup=False)
    failed = [r for r in results if r.status == Status.FAIL]
    unchecked = sum(r.status == Status.NOT_CHECKED for r in results)
    offered = sum(r.status not in (Status.NOT_OFFERED, Status.NOT_CHECKED) for r in results)
    notes = [f"{offered} offered by the service"]
    if unchecked:
        notes.append(f"{unchecked} not checked")
    summary = (
        f"{len(results) - len(failed) - unchecked}/{len(results)} checks without failure "
        f"({', '.join(notes)})"
    )
    console.print(("READY: " if not failed else "NOT READY: ") + summary, markup=False)
    return int(ExitCode.BREACH if failed else ExitCode.OK)
