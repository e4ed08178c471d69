"""``harness run SCENARIO``: run a load scenario with the persona journeys and gate on the SLOs.

Without ``--host`` it starts the bundled service (SQLite, or ``--database-url``), seeds it and
stops it afterwards. ``--workers K`` runs K local Locust worker processes under a master;
``--expect-workers K`` waits for K remote ``harness worker`` processes. Artifacts go to
``--out``/<UTC timestamp>-<scenario>/ (docs/artifacts.md). Exit codes: 0 every objective held,
1 a breach, 2 bad input, 3 unreachable target or incomplete run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands.common import (
    add_profile_argument,
    profile_from_args,
    require_port,
    require_positive,
)
from harness.commands.lab_options import add_lab_arguments, lab_request
from harness.commands.report import (
    add_fail_on_regression,
    check_fail_on_regression,
    judge_regressions,
)
from harness.errors import UsageError
from harness.exit_codes import ExitCode

if TYPE_CHECKING:
    from harness.run.own_locustfile import OwnLocustfile
    from models.profile import Profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", help="a scenario of the profile: smoke, load, stress, day1, ..."
    )
    add_profile_argument(parser)
    _add_swarm_arguments(parser)
    _add_output_arguments(parser)
    _add_target_arguments(parser)
    _add_lab_arguments(parser)


def _add_lab_arguments(parser: argparse.ArgumentParser) -> None:
    """The lab: K CPU-limited instances behind HAProxy, PgBouncer, replicas, the cache."""
    add_lab_arguments(parser)


def _add_swarm_arguments(parser: argparse.ArgumentParser) -> None:
    """The load: how many Locust processes, where, and how much of the scenario."""
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="K",
        help="local Locust worker processes under a master (0: one process)",
    )
    parser.add_argument(
        "--expect-workers",
        type=int,
        default=0,
        metavar="K",
        help="wait for K remote `harness worker` processes to join",
    )
    parser.add_argument(
        "--master-port",
        type=int,
        metavar="PORT",
        help="port the Locust master listens on (default: 5557 for remote "
        "workers, a free port for local ones)",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, metavar="F", help="multiply the scenario's user counts"
    )
    parser.add_argument(
        "--duration-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply the scenario's stage durations (0.1: a tenth as long)",
    )
    parser.add_argument(
        "--locustfile",
        type=Path,
        metavar="FILE",
        help="your own Locust user classes instead of the bundled journeys "
        "(profile key journeys.locustfile)",
    )
    parser.add_argument("--seed", type=int, metavar="N", help="random seed of the journeys")
    parser.add_argument(
        "--abort-on-breach",
        action="store_true",
        help="stop early when an objective is breached for gates.abort_window_s",
    )
    parser.add_argument(
        "--expect-workers-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="give up when the workers have not joined after S seconds",
    )


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the artifacts go and what is printed."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs"),
        metavar="DIR",
        help="where run directories are created (default: runs/)",
    )
    parser.add_argument("--json", action="store_true", help="print run.json on stdout")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="RUN_DIR",
        help="compare with this earlier run in the report (and with --fail-on-regression)",
    )
    add_fail_on_regression(parser)
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="do not render report.html (2-3 s); `harness report RUN_DIR` renders it later",
    )


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The service under test: the bundled one (how it is started) or ``--host``."""
    parser.add_argument("--host", help="test this URL instead of starting the bundled service")
    parser.add_argument(
        "--service-workers",
        type=int,
        default=1,
        metavar="W",
        help="uvicorn workers of the bundled service (Redis when > 1)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="the bundled service's database (default: a fresh SQLite file); "
        "with --host, the target's database, for the integrity audit",
    )
    parser.add_argument(
        "--seed-scale",
        type=float,
        default=0.01,
        metavar="F",
        help="seed the bundled service at this scale (accounts the journeys use)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="how long --host may take to answer /health/ready (10 s)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.run.orchestrate import execute, redirect_logging
    from harness.run.run_request import RunRequest

    _check_numbers(args)
    check_fail_on_regression(args)
    if args.baseline is not None and not (args.baseline / "run.json").is_file():
        raise UsageError(f"--baseline = {str(args.baseline)!r}: no run.json there (a run dir?)")
    profile = profile_from_args(args)
    own_users = _own_locustfile(args, profile)
    redirect_logging()
    request = RunRequest(
        scenario=args.scenario,
        profile=profile,
        own_users=own_users,
        host=args.host,
        workers=args.workers,
        expect_workers=args.expect_workers,
        scale=args.scale,
        out=args.out,
        service_workers=args.service_workers,
        database_url=args.database_url,
        seed_scale=args.seed_scale,
        duration_scale=args.duration_scale,
        abort_on_breach=args.abort_on_breach,
        master_port=args.master_port,
        seed=args.seed,
        expect_workers_max_wait_s=args.expect_workers_timeout,
        ready_timeout_s=args.ready_timeout,
        report=not args.no_report,
        lab=lab_request(args, profile, args.service_workers),
        baseline=args.baseline,
    )
    code, run_dir = execute(request)
    if run_dir is not None and args.fail_on_regression is not None:
        regressed = judge_regressions(run_dir, args.baseline, args.fail_on_regression)
        if regressed and code == ExitCode.OK:
            code = int(ExitCode.BREACH)
    if run_dir is not None:
        run_json = run_dir / "run.json"
        if args.json and run_json.exists():
            print(run_json.read_text(encoding="utf-8"))
        _print_summary(run_dir, code)
    return code


def _own_locustfile(args: argparse.Namespace, profile: Profile) -> OwnLocustfile | None:
    """The user's locustfile, checked before anything starts (``--locustfile`` over the
    profile's ``journeys.locustfile``); None: the bundled journeys."""
    from harness.run.own_locustfile import check_locustfile
    from models.catalogue import PERSONAS

    if args.locustfile is not None:
        return check_locustfile(args.locustfile, profile)
    if profile.journeys.locustfile:
        return check_locustfile(Path(profile.journeys.locustfile), profile, "journeys.locustfile")
    if not profile.personas.is_marketplace():
        raise UsageError(
            f"personas = {', '.join(profile.personas.names())}: the bundled journeys play "
            f"{', '.join(PERSONAS)}; give your own user classes with --locustfile FILE "
            "(or the profile key journeys.locustfile)"
        )
    return None


def _check_numbers(args: argparse.Namespace) -> None:
    """UsageError for a scale, timeout or port that would crash or hang the run (0, negative,
    NaN, infinity), before anything starts."""
    for flag in ("scale", "duration_scale", "seed_scale", "ready_timeout",
                 "expect_workers_timeout"):  # fmt: skip
        require_positive(f"--{flag.replace('_', '-')}", getattr(args, flag))
    if args.master_port is not None:
        require_port("--master-port", args.master_port)


def _print_summary(run_dir: Path, code: int) -> None:
    try:
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"harness run: no run.json in {run_dir}", file=sys.stderr)
        return
    out = sys.stderr
    verdict = {0: "PASSED", 1: "BREACHED", 3: "INCOMPLETE"}.get(code, f"exit {code}")
    print(f"\n{verdict}: {run['scenario']}  ->  {run_dir}", file=out)
    for reason in run["incomplete_reasons"]:
        print(f"  incomplete: {reason}", file=out)
    for row in run["slo"]:
        if not row["passed"]:
            where = f" (stage {row['stage']})" if row["stage"] is not None else " (overall)"
            kind = "breach" if row.get("judged", True) else "missed (not judged: chaos run)"
            print(
                f"  {kind}: {row['name']} measured {row['measured']} vs target "
                f"{row['target']}{where}",
                file=out,
            )
    recon = run["server_vs_client"]
    print(
        f"  requests: client {recon['client_total']}, server {recon['server_total']}, "
        f"match {recon['match']}",
        file=out,
    )
    audit = run["integrity"]
    if audit.get("checked"):
        print(
            f"  integrity: {audit['acknowledged_writes']} acknowledged writes, lost "
            f"{audit['lost']}, unexpected {audit['unexpected']}",
            file=out,
        )
    report = run_dir / "report.html"
    if report.exists():
        print(f"  report: {report}", file=out)
