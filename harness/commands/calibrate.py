"""``harness calibrate RUN_DIR [--out FILE]``: service demands measured from a run.

Reads ``RUN_DIR/server.json``, estimates each endpoint's CPU and database milliseconds per
request by the service demand law and by non-negative least squares (models.calibration),
prints both with their agreement, and writes a profile overlay (``[service_demands]`` only)
that ``--profile`` accepts::

    harness calibrate runs/20261128T153000Z-step
    harness model --profile runs/20261128T153000Z-step/calibration.toml

Exit codes: 0 written; 2 missing or unusable input (the message says which file and why).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.commands.common import add_profile_argument
from harness.errors import UsageError
from harness.exit_codes import ExitCode
from models.calibration import Calibration, CalibrationError, calibrate_run
from models.profile import Profile, load_profile

OVERLAY_NAME = "calibration.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help=f"where to write the profile overlay (default RUN_DIR/{OVERLAY_NAME})",
    )
    add_profile_argument(parser)
    parser.add_argument(
        "--method",
        choices=("law", "nnls"),
        default="law",
        help="which estimate goes into the overlay (default: law, plus unattributed overhead)",
    )
    parser.add_argument(
        "--no-overhead",
        action="store_true",
        help="leave the CPU no route is charged for (HTTP parsing, routing) out of the overlay",
    )
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")


def run(args: argparse.Namespace) -> int:
    _refuse_a_run_without_metrics(args.run_dir)
    profile = _profile(args)
    try:
        result = calibrate_run(
            args.run_dir, profile, method=args.method, include_overhead=not args.no_overhead
        )
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    out: Path = args.out if args.out is not None else args.run_dir / OVERLAY_NAME
    try:
        out.write_text(result.overlay_toml(), "utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror}") from None
    # The overlay must load as a profile layer; a failure here is a bug worth exit 2 + message.
    load_profile(args.profile, extra_layers=[out])
    if args.json:
        payload = result.to_json()
        payload["overlay_path"] = str(out)
        print(json.dumps(payload, indent=2))
    else:
        print_calibration(Console(width=max(Console().width, 110)), result, out)
    return ExitCode.OK


def _refuse_a_run_without_metrics(run_dir: Path) -> None:
    """A run whose target had no metrics says so in run.json's ``skipped``: that is the
    answer, rather than "too few scrapes"."""
    try:
        skipped = json.loads((run_dir / "run.json").read_text("utf-8")).get("skipped") or {}
    except (OSError, ValueError, AttributeError):
        return  # calibrate_run names what is missing or malformed
    if "calibration" in skipped:
        raise UsageError(f"{run_dir}: cannot calibrate: {skipped['calibration']}")


def _profile(args: argparse.Namespace) -> Profile:
    """``--profile``; without it, the run's own when it has personas of your own (their
    endpoints are the run's, not the catalogue's), else the default."""
    if args.profile is None:
        run_profile = args.run_dir / "profile.toml"
        if run_profile.is_file():
            resolved = load_profile(run_profile)
            if not resolved.personas.is_marketplace():
                return resolved
    return load_profile(args.profile)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def print_calibration(console: Console, result: Calibration, out: Path) -> None:
    console.print(
        f"[bold]Calibration[/bold] from {result.source}: {result.windows} windows over "
        f"{result.duration_s:,.0f} s; process CPU {result.process_cpu_s:,.2f} s, charged to "
        f"routes {result.attributed_cpu_s:,.2f} s, unattributed "
        f"{result.overhead_cpu_ms:.3f} ms per request",
        soft_wrap=True,
    )
    table = Table(title="Service demands, ms per request", header_style="bold")
    for column in (
        "endpoint",
        "requests",
        "law cpu",
        "law db",
        "nnls cpu",
        "nnls db",
        "agreement",
        "profile cpu",
        "profile db",
    ):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for e in result.estimates:
        table.add_row(
            e.endpoint,
            f"{e.requests:,}",
            _ms(e.law_cpu_ms),
            _ms(e.law_db_ms),
            _ms(e.nnls_cpu_ms),
            _ms(e.nnls_db_ms),
            "n/a" if e.agreement is None else f"{e.agreement:.0%}",
            _ms(e.profile_cpu_ms),
            _ms(e.profile_db_ms),
        )
    console.print(table)
    total = result.total_agreement
    console.print(
        f"NNLS: background {result.nnls_background_cores:.3f} cores, rank {result.nnls_rank} of "
        f"{result.nnls_unknowns} unknowns"
        + ("" if total is None else f", whole-run process CPU within {total:.1%}"),
        soft_wrap=True,
    )
    console.print(
        "agreement = |nnls cpu − (law cpu + unattributed)| / (law cpu + unattributed)",
        soft_wrap=True,
    )
    for note in result.notes:
        console.print(f"  - {note}", highlight=False, soft_wrap=True)
    console.print(f"overlay ({result.method}): {out}", soft_wrap=True)
