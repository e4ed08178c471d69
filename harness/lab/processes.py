"""The lab's server processes: started with a log in a session of their own, waited for with a
deadline, stopped with a bounded wait, and told apart from a later process that got the same
pid (a pid and its start time, read from ``/proc``, name one process for the life of the
machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.errors import HarnessError, TargetUnreachable
from harness.lab.programs import ServerUser

PROC = Path("/proc")
POLL_S = 0.05
#: After SIGKILL a process is gone within milliseconds; this bounds the wait if it is not.
KILL_WAIT_S = 5.0


class PartFailed(HarnessError):
    """A part of the lab could not be started or stopped (exit 3: there is no target)."""

    exit_code = TargetUnreachable.exit_code


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """One process: its pid and its start time in clock ticks since boot."""

    pid: int
    start_ticks: int

    def alive(self) -> bool:
        """Running, and the very process identified (not a later one with the same pid)."""
        state = _stat_fields(self.pid)
        return state is not None and state[0] != "Z" and int(state[19]) == self.start_ticks


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name: state first, start time at
    index 19. None when there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def identify(pid: int) -> ProcessIdentity:
    """The identity of a running process; PartFailed when it has already gone."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        raise PartFailed(f"process {pid} exited before it could be recorded")
    return ProcessIdentity(pid, int(fields[19]))


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def processes_naming(directory: Path) -> list[ProcessIdentity]:
    """Running processes whose command line names ``directory`` or a path inside it: how the
    lab finds a server it started but had not yet recorded when its owner died."""
    prefix = str(directory).rstrip("/")
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(arg == prefix or arg.startswith(prefix + "/") for arg in arguments):
            with contextlib.suppress(PartFailed):
                found.append(identify(int(entry.name)))
    return found


def _pinning(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    """What the child runs before its program: the CPU set, applied there so that every
    process it forks (PostgreSQL's backends, say) inherits it."""
    if not cpus:
        return None
    pinned = set(cpus)

    def pin() -> None:
        os.sched_setaffinity(0, pinned)

    return pin


def _popen(
    command: Sequence[str],
    output: IO[bytes] | int,
    user: ServerUser | None,
    cpus: frozenset[int] | None,
) -> subprocess.Popen[bytes]:
    """``command`` as ``user`` on ``cpus``, in a session of its own (so a stop or a timeout
    reaches it alone), stdout and stderr to ``output``."""
    return subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user=None if user is None else user.uid,
        group=None if user is None else user.gid,
        extra_groups=None if user is None else [],
        preexec_fn=_pinning(cpus),
    )


def spawn(
    command: Sequence[str],
    log_path: Path,
    *,
    user: ServerUser | None = None,
    cpus: frozenset[int] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server: ``command`` as ``user`` on ``cpus``, its output appended to
    ``log_path``."""
    with log_path.open("ab") as log:
        return _popen(command, log, user, cpus)


def run_program(
    command: Sequence[str],
    timeout_s: float,
    *,
    user: ServerUser | None = None,
    cpus: frozenset[int] | None = None,
) -> str:
    """Run ``command`` to completion as ``user`` on ``cpus``; its output. PartFailed naming
    the command and its output when it fails or outlasts ``timeout_s`` (then it is killed)."""
    with _popen(command, subprocess.PIPE, user, cpus) as process:
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its session: what it started too
            process.communicate()
            raise PartFailed(f"{' '.join(command)} took more than {timeout_s:g} s") from exc
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise PartFailed(
            f"{' '.join(command)} exited with code {process.returncode}: {text.strip()[-2000:]}"
        )
    return text


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(log empty)"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    log_path: Path,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll ``ready`` until it is true; PartFailed with the log's tail when ``timeout_s``
    passes or ``process`` exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise PartFailed(
                f"{what} exited with code {process.returncode} before it was ready; "
                f"{log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() >= deadline:
            raise PartFailed(
                f"{what} was not ready after {timeout_s:g} s; {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(POLL_S)


def _wait_gone(identity: ProcessIdentity, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while identity.alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def stop_process(
    identity: ProcessIdentity,
    stop_signal: int = signal.SIGTERM,
    timeout_s: float = 10.0,
) -> None:
    """Send ``stop_signal``, wait up to ``timeout_s`` for the process to go, then SIGKILL it.

    Nothing happens when the process has already gone. A child of ours is only reaped by its
    ``Popen.wait``; :meth:`ProcessIdentity.alive` counts a zombie as gone.
    """
    if not identity.alive():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(identity.pid, stop_signal)
    if _wait_gone(identity, timeout_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(identity.pid, signal.SIGKILL)
    if not _wait_gone(identity, KILL_WAIT_S):
        raise PartFailed(f"process {identity.pid} survived SIGKILL for {KILL_WAIT_S:g} s")


def stop_child(
    process: subprocess.Popen[bytes], stop_signal: int = signal.SIGTERM, timeout_s: float = 10.0
) -> None:
    """:func:`stop_process` for a child we started, then reap it."""
    if process.poll() is None:
        with contextlib.suppress(PartFailed):
            stop_process(identify(process.pid), stop_signal, timeout_s)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=KILL_WAIT_S)


def children_of(pid: int) -> Iterator[int]:
    """The pids whose parent is ``pid`` (PostgreSQL's backends, say)."""
    for entry in PROC.iterdir():
        if entry.name.isdigit() and parent_pid(int(entry.name)) == pid:
            yield int(entry.name)
