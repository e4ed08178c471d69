"""The harness's exceptions, each carrying the exit code the CLI returns for it.

    HarnessError
    ├── UsageError          bad arguments or input files            exit 2
    ├── TargetUnreachable   the host does not answer or is not ready exit 3
    └── RunIncomplete       the run lost data or was cut short      exit 3

A :class:`models.profile.ProfileError` also exits 2; the CLI maps it.
"""

from __future__ import annotations

from harness.exit_codes import ExitCode


class HarnessError(Exception):
    exit_code: ExitCode = ExitCode.BAD_INPUT


class UsageError(HarnessError):
    exit_code = ExitCode.BAD_INPUT


class TargetUnreachable(HarnessError):
    exit_code = ExitCode.UNREACHABLE

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"cannot reach {host}: {reason}")


class RunIncomplete(HarnessError):
    exit_code = ExitCode.UNREACHABLE
