"""``harness validate [--profile P] [--out DIR]``: how close does the model come?

Calibrates on a short step of three loads (the service curve, models/service_curve.py),
predicts a step load from 15% to 120% of the predicted saturation point, measures it on the
bundled service (``--replications`` times, more up to ``--max-replications`` while the runs
disagree by as much as the accuracy goals resolve), and compares per level on the mean over
the runs (harness/validate/).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.commands.common import add_profile_argument
from harness.errors import UsageError
from harness.exit_codes import ExitCode
from harness.validate.runner import validate
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_levels
from models.profile import load_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where runs go (runs/)")
    parser.add_argument(
        "--think-scale",
        type=float,
        default=ValidationSettings.think_scale,
        help="multiply think times by this, so one machine can reach saturation (0.05)",
    )
    parser.add_argument("--levels", type=int, default=ValidationSettings.levels)
    parser.add_argument(
        "--calibration-s", type=float, default=ValidationSettings.calibration_s,
        help="measured length of each calibration stage in seconds (three stages)",
    )  # fmt: skip
    parser.add_argument("--measure-s", type=float, help="fix every measured stage's length")
    parser.add_argument(
        "--replications", type=int, default=ValidationSettings.replications, metavar="N",
        help=f"step runs always made, each on a fresh service ({ValidationSettings.replications})",
    )  # fmt: skip
    parser.add_argument(
        "--max-replications", type=int, metavar="M",
        help="step runs at most, the extra ones while the runs disagree "
        f"(default {ValidationSettings.max_replications}, or N if larger)",
    )  # fmt: skip
    parser.add_argument("--no-holdout", action="store_true", help="skip the held-out mix")
    parser.add_argument("--no-pin", action="store_true", help="do not pin service and load")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when an accuracy goal is missed"
    )


def settings_from(args: argparse.Namespace) -> ValidationSettings:
    measure: dict[str, Any] = {}
    if args.measure_s is not None:
        measure = {"min_measure_s": args.measure_s, "max_measure_s": args.measure_s}
    replications, most = args.replications, args.max_replications
    if replications < 1:
        raise UsageError(f"--replications {replications}: must be at least 1")
    if most is None:
        most = max(replications, ValidationSettings.max_replications)
    elif most < replications:
        raise UsageError(
            f"--max-replications {most}: must be at least --replications ({replications})"
        )
    try:
        return ValidationSettings(
            think_scale=args.think_scale,
            levels=args.levels,
            calibration_s=args.calibration_s,
            holdout=not args.no_holdout,
            replications=replications,
            max_replications=most,
            **measure,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # before the profile: a bad flag is the whole answer
    profile = load_profile(args.profile)
    outcome = validate(profile, settings, args.out, pin=not args.no_pin)
    document = outcome.document.to_json()
    print(format_levels(document))
    print(f"validation: {outcome.directory / 'validation.json'}")
    if outcome.report is not None:
        print(f"report: {outcome.report}")
    summary = document.get("summary", {})
    if args.strict and outcome.exit_code == ExitCode.OK and not summary.get("goals_met"):
        return ExitCode.BREACH
    return outcome.exit_code
