"""The life of a part of the lab, and its common case: a server run in the foreground from a
directory of its own.

A :class:`LabPart` is started by :meth:`~LabPart.start` and removed by :meth:`~LabPart.stop`,
which may be called again (and is, by an aborted start); as a context manager it is stopped
on the way out, after an exception too.

A :class:`LabServer` (HAProxy, PgBouncer, the cache's Redis) writes its configuration into a
new directory that the ledger recorded first, runs in the foreground (so the pid recorded is the
one that serves) on a loopback port, a free one unless it was given one, and is ready when that
port answers. The server's command line names its directory, which is how the cleanup finds it
if its owner dies before recording the pid.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Self

from harness.lab.cleanup import LabLedger
from harness.lab.processes import (
    ProcessIdentity,
    identify,
    port_open,
    spawn,
    stop_child,
    wait_until,
)
from harness.lab.programs import ServerUser
from harness.run.service import free_port


class LabPart(ABC):
    """Something the lab starts and removes (see the module docstring)."""

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class LabServer(LabPart):
    """A server in the foreground from a recorded directory (see the module docstring)."""

    label: ClassVar[str]
    """Its name in directory names, the log's name and the ledger."""
    stop_signal: ClassVar[int] = signal.SIGTERM
    stop_timeout_s: ClassVar[float] = 10.0

    def __init__(
        self,
        ledger: LabLedger,
        cpus: frozenset[int] | None,
        start_timeout_s: float,
        port: int = 0,
    ) -> None:
        self.ledger = ledger
        self.cpus = cpus
        self.start_timeout_s = start_timeout_s
        self.requested_port = port
        """The port asked for; 0: a free one, chosen at start."""
        self.port = 0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.identity: ProcessIdentity | None = None

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / f"{self.label}.log"

    @abstractmethod
    def prepare(self, directory: Path) -> tuple[list[str], ServerUser | None]:
        """Write the configuration into ``directory`` for :attr:`port`; the command line and
        the OS user to run it as (None: the harness's own)."""

    def ready(self) -> bool:
        """True once the server serves; by default when its port accepts connections."""
        return port_open(self.port)

    def start(self) -> Self:
        """Configure, start and wait until :meth:`ready` (deadline ``start_timeout_s``);
        everything is removed again when any step fails."""
        try:
            self.directory = self.ledger.new_directory(self.label)
            self.port = self.requested_port or free_port()
            command, user = self.prepare(self.directory)
            self.process = spawn(command, self.log_path, user=user, cpus=self.cpus)
            self.identity = identify(self.process.pid)
            self.ledger.record_process(self.identity, self.label, self.stop_signal)
            wait_until(
                self.ready,
                self.start_timeout_s,
                f"{self.label} on port {self.port}",
                self.log_path,
                self.process,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (its :attr:`stop_signal`, SIGKILL after :attr:`stop_timeout_s`) and
        delete its directory. Safe to call again."""
        if self.process is not None:
            stop_child(self.process, self.stop_signal, self.stop_timeout_s)
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
