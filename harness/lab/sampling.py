"""Reading a part's counters at a steady pace while the lab runs: HAProxy's per-server stats,
PgBouncer's pools, replication lag, a group's CPU use.

A :class:`Sampler` calls its reader every ``interval_s`` on a thread of its own and keeps the
records it returns. A reading that fails (the part is restarting, say) is kept as an error
line with its time, and sampling goes on: a gap is data too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, Self, TypeVar

Record = TypeVar("Record")
DEFAULT_INTERVAL_S = 1.0


class Sampler(Generic[Record]):
    """Records from ``read`` every ``interval_s`` (see the module docstring)."""

    def __init__(
        self, read: Callable[[], Iterable[Record]], interval_s: float = DEFAULT_INTERVAL_S
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s: {interval_s}; expected more than 0")
        self.read = read
        self.interval_s = interval_s
        self.records: list[Record] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lab-sampler", daemon=True)

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.records.extend(self.read())
            except Exception as exc:  # a failed reading is data; sampling goes on
                self.errors.append(f"{time.time():.3f} {type(exc).__name__}: {exc}")
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> list[Record]:
        """Stop sampling (waiting at most ``timeout_s`` for a reading under way); the records."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return self.records

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
