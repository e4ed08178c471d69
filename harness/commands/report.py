"""``harness report RUN_DIR [--baseline RUN_DIR] [--out FILE]``: render a run's HTML report.

The report reads only the run directory's files (docs/artifacts.md), so a run copied from
another machine renders the same. Exit 0 when written, 2 when a directory is missing or holds
malformed artifacts (the message names the file and the key). With ``--baseline`` and
``--fail-on-regression PCT``: exit 1 when a figure is worse than the baseline's by more than
PCT percent (each regression printed, naming the stage or endpoint and the figure).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.artifacts import regressions
from harness.commands.common import require_positive
from harness.errors import UsageError
from harness.exit_codes import ExitCode

# The reports package (matplotlib, scipy through the validation records: over a second) is
# imported where a report is made, not when the command line is parsed: `harness run` imports
# this module for its flags and should start the service without waiting for it.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a runs/<id>/ directory")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="RUN_DIR",
        help="compare with this earlier run: deltas on every figure, regressions flagged",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write (default RUN_DIR/report.html)"
    )
    add_fail_on_regression(parser)


def add_fail_on_regression(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on-regression",
        type=float,
        metavar="PCT",
        help="with --baseline: exit 1 when a figure is worse than the baseline's by more "
        "than PCT percent, naming the endpoint or stage and the figure",
    )


def check_fail_on_regression(args: argparse.Namespace) -> None:
    """UsageError for --fail-on-regression without --baseline or with a bad percentage."""
    if args.fail_on_regression is None:
        return
    if args.baseline is None:
        raise UsageError("--fail-on-regression needs --baseline RUN_DIR to compare with")
    require_positive("--fail-on-regression", args.fail_on_regression)


def judge_regressions(run_dir: Path, baseline: Path, percent: float) -> bool:
    """Print every regression beyond ``percent`` on stderr; True when there is one."""
    from reports import ArtifactError

    try:
        found = regressions(run_dir, baseline, percent)
    except ArtifactError as exc:
        raise UsageError(f"cannot compare with the baseline: {exc}") from None
    for sentence in found:
        print(f"regression beyond {percent:g}%: {sentence}", file=sys.stderr)
    return bool(found)


def run(args: argparse.Namespace) -> int:
    from reports import ArtifactError, render_run_report

    check_fail_on_regression(args)
    try:
        path = render_run_report(args.run_dir, out=args.out, baseline_dir=args.baseline)
    except ArtifactError as exc:
        raise UsageError(f"cannot render the report: {exc}") from None
    print(f"report: {path}")
    if args.fail_on_regression is not None and judge_regressions(
        args.run_dir, args.baseline, args.fail_on_regression
    ):
        return ExitCode.BREACH
    return ExitCode.OK
