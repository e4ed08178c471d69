"""Live progress of a run in the terminal: stage, users, requests/s, p95, errors, availability.

On a terminal it is a rich live panel redrawn in place; anywhere else (CI logs, a pipe, tests)
it degrades to one plain line every ``plain_every_s`` seconds, so logs stay readable and short.
Everything goes to stderr: stdout belongs to ``--json``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


def _fmt(value: Any, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


class Progress:
    """Shows the latest time-series record; call :meth:`update` as records arrive."""

    def __init__(
        self,
        scenario: str,
        stage_count: int,
        stream: IO[str] | None = None,
        plain_every_s: float = 10.0,
        interactive: bool | None = None,
    ) -> None:
        self.scenario = scenario
        self.stage_count = stage_count
        self.stream = stream or sys.stderr
        self.plain_every_s = plain_every_s
        tty = self.stream.isatty() if interactive is None else interactive
        self.console = Console(file=self.stream, force_terminal=tty if interactive else None)
        self.live: Live | None = Live(console=self.console, transient=False) if tty else None
        self._last_plain: float | None = None  # the first record is always printed
        self._started = False

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.start()
            self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None and self._started:
            self.live.stop()

    def note(self, message: str) -> None:
        """A one-off line (worker lost, stop requested) above the live panel."""
        self.console.print(message, highlight=False, markup=False)

    def update(self, record: Mapping[str, Any], workers: int | None = None) -> None:
        if self.live is not None:
            self.live.update(self._table(record, workers))
            return
        now = time.monotonic()
        if self._last_plain is None or now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            print(self._line(record, workers), file=self.stream, flush=True)

    def _stage_text(self, record: Mapping[str, Any]) -> str:
        stage = record.get("stage")
        return "-" if stage is None else f"{int(stage) + 1}/{self.stage_count}"

    def _line(self, record: Mapping[str, Any], workers: int | None) -> str:
        avail = record.get("availability")
        parts = [
            f"t={record['t_s']:.0f}s",
            f"stage {self._stage_text(record)}",
            f"users {record.get('users', 0)}",
            f"{record.get('rps', 0.0):.1f} req/s",
            f"p95 {_fmt(record.get('p95_ms'), '.0f')} ms",
            f"errors {100 * float(record.get('error_rate') or 0.0):.2f}%",
            f"availability {_fmt(None if avail is None else 100 * avail, '.2f')}%",
        ]
        if workers is not None:
            parts.append(f"workers {workers}")
        return f"[{self.scenario}] " + "  ".join(parts)

    def _table(self, record: Mapping[str, Any], workers: int | None) -> Table:
        table = Table(title=f"harness run {self.scenario}", title_justify="left")
        for column in ("t", "stage", "users", "req/s", "p95 ms", "errors", "availability"):
            table.add_column(column, justify="right")
        avail = record.get("availability")
        table.add_row(
            f"{record['t_s']:.0f} s",
            self._stage_text(record),
            str(record.get("users", 0)),
            f"{record.get('rps', 0.0):.1f}",
            _fmt(record.get("p95_ms"), ".0f"),
            f"{100 * float(record.get('error_rate') or 0.0):.2f}%",
            f"{_fmt(None if avail is None else 100 * avail, '.2f')}%",
        )
        if workers is not None:
            table.caption = f"{workers} load-generator worker(s)"
        return table
