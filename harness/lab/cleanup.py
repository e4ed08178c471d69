"""Everything a lab starts is written down before it starts, and removed again: on stop, on an
exception, on SIGTERM or Ctrl-C, and, after a harness that was SIGKILLed, by the next lab.

A :class:`LabLedger` is one lab's record: a file ``<pid>-<start ticks>-<token>.jsonl`` in a
state directory, named after the process that owns the lab, with one line per thing, appended
and flushed to disk before the thing exists:

* ``directory``: a data or configuration directory (created only after it is recorded);
* ``cgroup``: a CPU group's directories (:mod:`harness.lab.cgroups`);
* ``process``: a server's pid with its start time, and the signal that stops it cleanly.

A process can only be recorded once it has a pid. A server always runs from a recorded
directory and names it on its command line (``postgres -D <dir>``, ``haproxy -f <dir>/...``),
so removing a directory first stops every process that names it: that covers a server whose
owner died between starting it and recording it.

:meth:`LabLedger.open` first removes what every ledger in the state directory recorded whose
owner is gone (no process with that pid and start time). :meth:`LabLedger.close` removes what
this one recorded: processes first (newest first), then groups, then directories, each step
bounded in time; what is already gone is skipped, so removal can be repeated.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Self

from harness.errors import HarnessError
from harness.lab.cgroups import remove_group
from harness.lab.processes import (
    ProcessIdentity,
    identify,
    processes_naming,
    stop_process,
)

DEFAULT_STATE_DIR = Path(tempfile.gettempdir()) / "capacity-harness-lab" / "state"
DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "capacity-harness-lab"
PROCESS_STOP_S = 10.0
"""How long a recorded server gets to stop on its own signal before SIGKILL."""
STRAY_STOP_S = 2.0
"""How long a process found naming a directory gets after SIGTERM before SIGKILL."""


@dataclass(frozen=True, slots=True)
class Removal:
    """What a removal did, for the log: ``"stopped process 123 (haproxy)"`` and the like."""

    what: str


class LabLedger:
    """One lab's record of what it started (see the module docstring). A context manager::

    with LabLedger() as ledger:
        directory = ledger.new_directory("primary")
        ...
    """

    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        work_dir: Path = DEFAULT_WORK_DIR,
        catch_sigterm: bool = True,
    ) -> None:
        self.state_dir = state_dir
        self.work_dir = work_dir
        self.catch_sigterm = catch_sigterm
        owner = identify(os.getpid())
        token = uuid.uuid4().hex[:8]
        self.path = state_dir / f"{owner.pid}-{owner.start_ticks}-{token}.jsonl"
        self.reclaimed: list[Removal] = []
        self._previous_sigterm: Any = None
        self._lock = threading.Lock()

    def open(self) -> Self:
        """Remove what dead owners left, start this ledger, and turn SIGTERM into
        KeyboardInterrupt (when this is the main thread and nobody handles SIGTERM yet), so
        that ``with`` blocks unwind and this ledger is closed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Servers running as another user (PostgreSQL as postgres) must reach their directory.
        self.work_dir.chmod(0o755)
        self.reclaimed = reclaim_abandoned(self.state_dir)
        self.path.touch()
        if (
            self.catch_sigterm
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            self._previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def _append(self, entry: dict[str, Any]) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def new_directory(self, label: str) -> Path:
        """A fresh directory under the work directory, recorded, then created (mode 0755)."""
        path = self.work_dir / f"{label}-{self.path.stem}-{uuid.uuid4().hex[:6]}"
        self.record_directory(path)
        path.mkdir(mode=0o755)
        path.chmod(0o755)
        return path

    def record_directory(self, path: Path) -> None:
        self._append({"kind": "directory", "path": str(path)})

    def record_cgroup(self, directories: tuple[Path, ...]) -> None:
        self._append({"kind": "cgroup", "paths": [str(path) for path in directories]})

    def record_process(
        self, identity: ProcessIdentity, label: str, stop_signal: int = signal.SIGTERM
    ) -> None:
        self._append(
            {
                "kind": "process",
                "pid": identity.pid,
                "start_ticks": identity.start_ticks,
                "label": label,
                "signal": int(stop_signal),
            }
        )

    def entries(self) -> list[dict[str, Any]]:
        return self.read(self.path)

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        """A ledger file's entries; a line cut short by a kill is skipped (its thing was not
        made yet: each is recorded before it is made)."""
        entries = []
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    entries.append(json.loads(line))
        return entries

    def close(self) -> list[Removal]:
        """Remove everything recorded and the ledger itself; what was removed."""
        try:
            removed = remove_entries(self.entries())
            self.path.unlink(missing_ok=True)
            return removed
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def remove_entries(entries: list[dict[str, Any]]) -> list[Removal]:
    """Remove what ``entries`` record: processes (newest first), groups, then directories."""
    removed: list[Removal] = []
    for entry in reversed(entries):
        if entry["kind"] != "process":
            continue
        identity = ProcessIdentity(entry["pid"], entry["start_ticks"])
        if identity.alive():
            stop_process(identity, entry["signal"], PROCESS_STOP_S)
            removed.append(Removal(f"stopped process {identity.pid} ({entry['label']})"))
    for entry in reversed(entries):
        if entry["kind"] == "cgroup":
            paths = tuple(Path(path) for path in entry["paths"])
            if any(path.exists() for path in paths):
                remove_group(paths, kill_members=True)
                removed.append(Removal(f"removed cgroup {paths[0].name}"))
    for entry in reversed(entries):
        if entry["kind"] == "directory":
            path = Path(entry["path"])
            for stray in processes_naming(path):
                stop_process(stray, signal.SIGTERM, STRAY_STOP_S)
                removed.append(Removal(f"stopped process {stray.pid} naming {path}"))
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(Removal(f"removed directory {path}"))
    return removed


def _owner_alive(ledger: Path) -> bool:
    pid, ticks, *_ = [*ledger.stem.split("-"), "", ""]
    try:
        return ProcessIdentity(int(pid), int(ticks)).alive()
    except ValueError:
        return False


def reclaim_abandoned(state_dir: Path) -> list[Removal]:
    """Remove what every ledger in ``state_dir`` whose owner is gone recorded, and those
    ledgers; the ledgers of running labs are left alone."""
    removed: list[Removal] = []
    for ledger in sorted(state_dir.glob("*.jsonl")):
        if _owner_alive(ledger):
            continue
        try:
            removed.extend(remove_entries(LabLedger.read(ledger)))
        except HarnessError as exc:
            removed.append(Removal(f"could not remove everything {ledger} recorded: {exc}"))
            continue
        ledger.unlink(missing_ok=True)
    return removed
