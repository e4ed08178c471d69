"""``harness profile show [--profile P]``, ``harness profile check FILE`` (every problem in one
pass) and ``harness profile schema`` (a JSON Schema of a profile file, for editors)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.commands.common import add_profile_argument
from harness.exit_codes import ExitCode
from models.profile import Profile, load_profile, profile_schema
from models.workload import business_write_fraction, peak_rps, workloads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the resolved profile and derived quantities")
    add_profile_argument(show)
    show.add_argument("--toml", action="store_true", help="print only the resolved TOML")
    check = actions.add_parser(
        "check", help="validate a profile file, every problem in one pass (exit 2 when invalid)"
    )
    check.add_argument("file", type=Path, metavar="FILE")
    actions.add_parser("schema", help="print a JSON Schema of profile files (for editors)")


def run(args: argparse.Namespace) -> int:
    if args.action == "schema":
        _print(json.dumps(file_schema(), indent=2) + "\n")
        return ExitCode.OK
    if args.action == "check":
        profile = load_profile(args.file)
        _print(f"{args.file}: valid ({_summary_line(profile)})\n")
        return ExitCode.OK
    profile = load_profile(args.profile)
    _print(profile.to_toml() if args.toml else describe(profile) + "\n")
    return ExitCode.OK


def _print(text: str) -> None:
    """Write ``text`` to standard output; stop quietly when the reader has gone away, as
    ``harness profile show | head`` does after a few lines (no BrokenPipeError traceback)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The interpreter flushes stdout once more at exit: send that to /dev/null too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def file_schema() -> dict[str, Any]:
    """The JSON Schema of a profile *file* (:func:`models.profile.profile_schema`), named as
    one: what an editor's TOML plug-in reads for completion and checks."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **profile_schema()}


def _summary_line(profile: Profile) -> str:
    return (
        f"{profile.population.users:,} users, {profile.dau():,.0f} DAU, "
        f"{profile.peak_concurrent():,.0f} peak concurrent"
    )


def _personas(profile: Profile) -> list[str]:
    if not profile.personas.is_marketplace():  # your own: no screens, no business volumes
        lines = ["", "personas of your own (share, mean think time, requests per cycle)"]
        for name, persona in profile.personas.items():
            lines.append(
                f"  {name:<11} {persona.share:>6.0%}  {persona.think_time_s:>6.1f} s  "
                f"{persona.requests_per_cycle:>5.2f} requests/cycle"
            )
        return lines
    lines = [
        f"  write fraction         {profile.business.write_fraction:>12.2%}   "
        f"(the business volumes alone imply {business_write_fraction(profile):.3%})",
        "",
        "personas (share, mean think time, API calls per screen)",
    ]
    for name, work in workloads(profile).items():
        lines.append(
            f"  {name:<11} {work.share:>6.0%}  {work.think_time_s:>6.1f} s  "
            f"{work.calls_per_step:>5.2f} calls/screen"
        )
    return lines


def describe(profile: Profile) -> str:
    """The derived quantities a reader checks first, then the resolved TOML."""
    lines = [
        f"profile: {profile.name}",
        "",
        "derived",
        f"  users                  {profile.population.users:>12,}",
        f"  daily active (DAU)     {profile.dau():>12,.0f}   users x dau_ratio "
        f"{profile.population.dau_ratio:g}",
        f"  peak concurrent        {profile.peak_concurrent():>12,.0f}   DAU x concurrency_ratio "
        f"{profile.population.concurrency_ratio:g}",
        f"  peak requests/s        {peak_rps(profile):>12,.0f}   from think times and screens",
    ]
    lines += _personas(profile)
    lines += ["", "resolved profile (TOML)", "", profile.to_toml()]
    return "\n".join(lines)
