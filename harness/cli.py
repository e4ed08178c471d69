"""``harness``: the command line. Each subcommand lives in ``harness/commands/<name>.py`` and
exposes ``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when
their command runs, so ``harness model`` never pays for importing Locust (whose gevent
monkey-patching must also stay out of the commands that do not load-test).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from typing import Protocol

from harness.errors import HarnessError
from harness.exit_codes import ExitCode
from models.profile import ProfileError


class Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# name -> (module under harness.commands, one-line help). Order is the order of `harness -h`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "the main job: plan, calibrate, measure, compare, report (< 5 min)"),
    "model": ("model", "size instances, connections and cost for the profile (analytic)"),
    "simulate": ("simulate", "simulate launch day with the autoscaler (SimPy)"),
    "run": ("run", "run a load scenario with the persona journeys (Locust)"),
    "worker": ("worker", "join a distributed run as Locust worker processes"),
    "calibrate": ("calibrate", "estimate service demands from a run; write a profile overlay"),
    "validate": ("validate", "calibrate, predict a step load, measure it, compare"),
    "report": ("report", "render a run's HTML report"),
    "serve": ("serve", "start the bundled marketplace service"),
    "health": ("health", "the launch-readiness check of a host"),
    "profile": ("profile", "show the resolved profile or check a profile file"),
}

#: The installed distribution whose version ``harness --version`` prints (pyproject.toml).
DISTRIBUTION = "capacity-harness"

EPILOG = """exit codes: 0 success; 1 an objective or threshold was breached; 2 bad usage, profile
or input; 3 target unreachable or run incomplete (artifacts still written)."""


class VersionAction(argparse.Action):
    """``--version``: print the installed distribution's version on stdout and exit 0. Looked up
    only when asked: reading the package metadata would cost every command's start."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        try:
            version = importlib.metadata.version(DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            parser.exit(
                ExitCode.BAD_INPUT,
                f"{parser.prog}: {DISTRIBUTION} is not installed (pip install -e .), so it has "
                "no version\n",
            )
        print(f"{parser.prog} {version}")
        parser.exit(ExitCode.OK)


def _load(name: str) -> Command:
    module_name, _ = COMMANDS[name]
    module = importlib.import_module(f"harness.commands.{module_name}")
    return module  # a module with add_arguments() and run() satisfies Command


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommands named in ``commands`` load their arguments (importing
    their modules), so ``harness --help`` and ``harness model`` stay fast."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Will the service survive launch day, and what will it take?",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG)
        if commands is not None and name in commands:
            _load(name).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser([chosen] if chosen in COMMANDS else None)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    try:
        return int(_load(args.command).run(args))
    except ProfileError as exc:
        print(f"harness {args.command}: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except HarnessError as exc:
        print(f"harness {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`harness model --users 100_000:1_000_000:100_000 | head`): stop
        # quietly, as Unix tools do, and send the interpreter's last flush at exit to /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
