"""Fixtures of the lab's tests: a ledger whose work directory servers running as the
``postgres`` user can reach, and the programs and kernel features the lab needs.

What the lab needs but this machine lacks (haproxy, pgbouncer, initdb, writable cgroups) skips
the test with the reason on a developer's machine and fails it under CI (``CI=true``), where
``make test`` installs them first: there a missing one is a broken set-up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.errors import UsageError
from harness.lab.cgroups import (
    PARENT_GROUP,
    CgroupUnavailable,
    CpuGroup,
    CpuLimit,
    detect_layout,
)
from harness.lab.cleanup import DEFAULT_STATE_DIR, LabLedger
from harness.lab.programs import HAPROXY, INITDB, PGBOUNCER, Program, find_program
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, require_server


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail under CI (module docstring)."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} Under CI this is a failure, not a skip (make test installs it).")
    pytest.skip(reason)


def require_programs(*programs: Program) -> None:
    for program in programs:
        try:
            find_program(program)
        except UsageError as exc:
            unavailable(str(exc))


def require_cgroups() -> None:
    """The lab's CPU groups can be made here (root, or a delegated subtree)."""
    try:
        probe = CpuGroup(f"probe-{os.getpid()}", detect_layout())
    except CgroupUnavailable as exc:
        unavailable(str(exc))
        return
    try:
        probe.create(CpuLimit(1.0))
    except CgroupUnavailable as exc:
        unavailable(str(exc))
    finally:
        probe.remove()


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A directory for the lab's servers, outside pytest's tmp_path (mode 0700 there, which
    the ``postgres`` user cannot enter); deleted afterwards."""
    path = Path(tempfile.mkdtemp(prefix="lab-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ledger(tmp_path: Path, work_dir: Path) -> Iterator[LabLedger]:
    """An open ledger; closing it afterwards removes whatever a failed test left."""
    lab = LabLedger(tmp_path / "state", work_dir / "lab", catch_sigterm=False).open()
    try:
        yield lab
    finally:
        lab.close()


def lab_ready() -> None:
    """Everything a run on the whole lab needs: PostgreSQL and Redis on loopback, haproxy,
    pgbouncer and initdb, CPU groups."""
    require_server("PostgreSQL", POSTGRES_ADMIN_URL, 5432)
    require_server("Redis", REDIS_URL, 6379)
    require_programs(HAPROXY, PGBOUNCER, INITDB)
    require_cgroups()


def lab_leftovers(owner: int | None = None) -> list[str]:
    """What labs of this machine's harness left: the ledgers and CPU groups of owners that are
    gone (a lab still running elsewhere on the machine is not a leftover). With ``owner`` (a
    pid), only that owner's, gone or not: a test's own lab, never another's (the lab tests run
    one after another, but a SIGKILLed run leaves its lab to the next start on purpose)."""

    def counted(name: str) -> bool:
        pid = int(name.split("-")[0])
        return pid == owner if owner is not None else not psutil.pid_exists(pid)

    found = [str(ledger) for ledger in DEFAULT_STATE_DIR.glob("*.jsonl") if counted(ledger.name)]
    for hierarchy in detect_layout().hierarchies():
        groups = (hierarchy / PARENT_GROUP).glob("*-instance_*")
        found.extend(str(group) for group in groups if group.is_dir() and counted(group.name))
    return found
