"""The sampler reads at its pace, keeps failed readings as errors, and stops in bounded time."""

from __future__ import annotations

import itertools
import time

import pytest

from harness.lab.sampling import Sampler


def test_readings_are_kept_and_a_failed_one_is_an_error_line() -> None:
    counter = itertools.count()

    def read() -> list[int]:
        n = next(counter)
        if n == 1:
            raise ConnectionError("part restarting")
        return [n]

    with Sampler(read, interval_s=0.02) as sampler:
        deadline = time.monotonic() + 5
        while len(sampler.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sampler.records[:3] == [0, 2, 3]
    assert len(sampler.errors) == 1 and "ConnectionError: part restarting" in sampler.errors[0]


def test_stop_waits_at_most_its_timeout_for_a_reading_under_way() -> None:
    def slow_read() -> list[int]:
        time.sleep(1.0)
        return [1]

    sampler = Sampler(slow_read, interval_s=0.01).start()
    time.sleep(0.05)
    started = time.monotonic()
    sampler.stop(timeout_s=0.1)
    assert time.monotonic() - started < 0.5


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s: 0; expected more than 0"):
        Sampler(list, interval_s=0)
