"""A clock tests step by hand, for breakers and anything else that reads the time."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that only move when a test calls `advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"time cannot go back: advance({seconds})")
        self.now += seconds
