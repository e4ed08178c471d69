"""``harness validate [--profile P] [--out DIR]``: how close does the model come to a load it
never saw?

A pilot stage and a light calibration (no stage over 50% CPU) fit the model; it then predicts
trials it was not fitted to: the same mix far beyond the calibration and through saturation,
a held-out persona mix, held-out think times; with ``--lab``, the instance decision and the lab
topology trial. Each level is judged where the model predicted at most 85% CPU, beside the
naive baseline's error (harness/validate/). ``--strict`` exits 1 when any judged goal is
missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.commands.common import add_profile_argument
from harness.errors import UsageError
from harness.exit_codes import ExitCode
from harness.validate.reanalyse import reanalyse
from harness.validate.runner import LabMode, validate
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_document
from models.profile import Profile, load_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where runs go (runs/)")
    parser.add_argument(
        "--think-scale",
        type=float,
        default=ValidationSettings.think_scale,
        help="multiply think times by this, so one machine can reach saturation (0.05)",
    )
    parser.add_argument(
        "--calibration-s", type=float, default=ValidationSettings.calibration_s,
        help="measured length of each calibration stage in seconds",
    )  # fmt: skip
    parser.add_argument(
        "--burst-period", type=float, default=ValidationSettings.burst_period_s, metavar="S",
        help="the burst stage's clock in seconds (it measures the busy cost per request; "
        "0: no burst stage, the busy cost extrapolated from the light stages)",
    )  # fmt: skip
    parser.add_argument(
        "--deep-burst-period", type=float, default=ValidationSettings.deep_burst_period_s,
        metavar="S",
        help="the deep burst's clock in seconds, longer than the burst's: as many times its "
        "users, a queue that many times deeper (it measures the backlog's cost per request; "
        "0, or no burst stage: none)",
    )  # fmt: skip
    parser.add_argument(
        "--backlog-fit", action="store_true",
        help="put the backlog's cost the deep burst measured into the judged curve past the "
        "burst's depth (by default it is measured and recorded beside it, not judged)",
    )  # fmt: skip
    parser.add_argument(
        "--shallow-fit", action="store_true",
        help="put the same law into the judged curve below the burst's depth: a request costs "
        "less the fewer requests the service holds (by default a busy request costs the "
        "burst's, however few are in the service)",
    )  # fmt: skip
    parser.add_argument("--measure-s", type=float, help="fix every measured stage's length")
    parser.add_argument(
        "--replications", type=int, default=ValidationSettings.replications, metavar="N",
        help="runs of the far-beyond trial always made, each on a fresh service "
        f"({ValidationSettings.replications})",
    )  # fmt: skip
    parser.add_argument(
        "--max-replications", type=int, metavar="M",
        help="its runs at most, the extra ones while the runs disagree "
        f"(default {ValidationSettings.max_replications}, or N if larger)",
    )  # fmt: skip
    parser.add_argument("--no-holdout", action="store_true", help="skip both held-out trials")
    parser.add_argument("--no-pin", action="store_true", help="do not pin service and load")
    parser.add_argument(
        "--speed-normalised-fit",
        action="store_true",
        help="judge the fit taken at one machine speed (the plain fit is shown beside it)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="also drive the service into saturation once: a diagnostic, never judged",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when any judged goal is missed"
    )
    _add_lab_arguments(parser)
    parser.add_argument(
        "--reanalyse",
        type=Path,
        metavar="DIR",
        help="run nothing: fit and compare again from a validation directory's runs (with "
        "--speed-normalised-fit or without, with --backlog-fit or --shallow-fit or "
        "without), into "
        "DIR/validation-reanalysed.json",
    )


def _add_lab_arguments(parser: argparse.ArgumentParser) -> None:
    """The lab's flags: the instance decision and the topology trial."""
    parser.add_argument(
        "--lab",
        action="store_true",
        help="also test the instance decision on the lab (the profile's [lab] section): K-1 "
        "and K instances at the load for which the planner names K",
    )
    parser.add_argument(
        "--lab-only", action="store_true", help="the instance decision alone (implies --lab)"
    )
    parser.add_argument(
        "--no-instance-decision",
        action="store_true",
        help="--lab: skip the instance decision's runs (the lab's calibration "
        "still runs, for the topology trial)",
    )
    parser.add_argument(
        "--no-topology-trial",
        action="store_true",
        help="--lab: skip the lab topology trial (the [lab] at levels of load, its CPU per "
        "instance, latency and PgBouncer's connections against the topology model)",
    )
    parser.add_argument(
        "--decision-instances",
        type=int,
        default=ValidationSettings.decision_instances,
        metavar="K",
        help=f"the K the decision is tested at ({ValidationSettings.decision_instances})",
    )
    parser.add_argument(
        "--k-plus-one",
        action="store_true",
        help="--lab: also measure K+1 instances, the margin on the safe side (two more lab "
        "runs, about 90 s; the decision is judged on K-1 and K)",
    )
    parser.add_argument(
        "--decision-replications",
        type=int,
        default=ValidationSettings.decision_replications,
        metavar="N",
        help="runs of each count measured, interleaved (K-1, K, K, K-1), each count judged on "
        f"their mean ({ValidationSettings.decision_replications}); a count whose runs disagree "
        f"on whether it holds runs again, up to {ValidationSettings.decision_max_replications} "
        "or N, within the time budget",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="--lab: the PostgreSQL the lab runs on (a pooler or replicas need one)",
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
            calibration_s=args.calibration_s,
            burst_period_s=args.burst_period,
            deep_burst_period_s=args.deep_burst_period if args.burst_period > 0 else 0.0,
            backlog_fit=args.backlog_fit,
            shallow_fit=args.shallow_fit,
            holdout_mix=not args.no_holdout,
            holdout_think=not args.no_holdout,
            replications=replications,
            max_replications=most,
            speed_normalised_fit=args.speed_normalised_fit,
            capacity_probe=args.probe,
            decision_instances=args.decision_instances,
            decision_replications=args.decision_replications,
            # one more run of a count whose runs disagree, as many as asked for at the least
            decision_max_replications=max(
                args.decision_replications, ValidationSettings.decision_max_replications
            ),
            decision_k_plus_one=args.k_plus_one,
            topology_trial=not args.no_topology_trial,
            instance_decision=not args.no_instance_decision,
            **measure,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # before the profile: a bad flag is the whole answer
    if args.reanalyse is not None:
        return _reanalyse(args.reanalyse, settings, args.strict)
    profile = load_profile(args.profile)
    lab = None
    if args.lab or args.lab_only:
        most = settings.decision_instances + int(settings.decision_k_plus_one)
        lab = checked_lab_mode(profile, args.database_url, most, args.lab_only)
    outcome = validate(profile, settings, args.out, pin=not args.no_pin, lab=lab)
    document = outcome.document.to_json()
    print(format_document(document))
    print(f"validation: {outcome.directory / 'validation.json'}")
    if outcome.report is not None:
        print(f"report: {outcome.report}")
    return _exit_code(outcome.exit_code, document, args.strict)


def checked_lab_mode(
    profile: Profile, database_url: str | None, decision_most: int, only: bool = False
) -> LabMode:
    """``--lab``: checked before anything starts (the lab's programs, cores, CPU groups and
    connection arithmetic, for the most instances a run asks for: the decision's most,
    ``decision_most`` (K, or K+1), or the [lab]'s own count, the topology trial's), exit 2
    naming what does not fit. ``harness demo --lab`` checks its lab here too."""
    from harness.run.lab_plan import LabRequest, plan_lab

    lab = LabRequest.from_profile(profile)
    most = dataclasses.replace(lab, instances=max(decision_most, lab.instances))
    plan_lab(most, profile, database_url)
    return LabMode(database_url, only=only)


def _reanalyse(directory: Path, settings: ValidationSettings, strict: bool) -> int:
    document = reanalyse(
        directory,
        speed_normalised_fit=settings.speed_normalised_fit,
        backlog_fit=settings.backlog_fit,
        shallow_fit=settings.shallow_fit,
    )
    path = directory / "validation-reanalysed.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(format_document(document))
    print(f"reanalysed: {path}")
    return _exit_code(ExitCode.OK, document, strict)


def _exit_code(code: int, document: dict[str, Any], strict: bool) -> int:
    """3 for an incomplete validation; with ``--strict``, 1 when any judged goal missed."""
    if code != ExitCode.OK:
        return code
    if strict and not document["summary"]["goals_met"]:
        return ExitCode.BREACH
    return ExitCode.OK
