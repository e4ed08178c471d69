"""``harness report RUN_DIR [--baseline RUN_DIR] [--out FILE]``: render a run's HTML report.

The report reads only the run directory's files (docs/artifacts.md), so a run copied from
another machine renders the same. Exit 0 when written, 2 when a directory is missing or holds
malformed artifacts (the message names the file and the key).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UsageError
from harness.exit_codes import ExitCode
from reports import ArtifactError, render_run_report


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


def run(args: argparse.Namespace) -> int:
    try:
        path = render_run_report(args.run_dir, out=args.out, baseline_dir=args.baseline)
    except ArtifactError as exc:
        raise UsageError(f"cannot render the report: {exc}") from None
    print(f"report: {path}")
    return ExitCode.OK
