"""The circuit breaker: exact state sequences and exactly which calls reach the dependency.

The first tests take the state machine apart on breakers built by hand; the last one walks
each of the service's six breakers, built from the settings as the app builds them, through
its row of the source document's table.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import OperationalError

from target_app.core.config import DEPENDENCIES
from target_app.core.errors import CallTimeoutError, CircuitOpenError
from target_app.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from target_app.resilience.database import is_database_failure
from target_app.resilience.registry import BreakerRegistry

from .clock import FakeClock
from .conftest import dev_settings

pytestmark = pytest.mark.anyio

CLOSED, OPEN, HALF = BreakerState.closed, BreakerState.open, BreakerState.half_open


class Dependency:
    """Counts the calls it sees; fails while ``broken``; can hold calls until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.broken = False
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.broken:
            raise ConnectionError("dependency down")
        return "ok"


async def _attempt(breaker: CircuitBreaker, dep: Dependency) -> str:
    try:
        return await breaker.call(dep)
    except CircuitOpenError:
        return "rejected"
    except ConnectionError:
        return "failed"


def _sequence(breaker: CircuitBreaker) -> list[tuple[BreakerState, BreakerState]]:
    return list(breaker.stats.transitions)


async def test_opens_rejects_then_admits_bounded_trials_under_50_callers() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("ai", BreakerPolicy(3, 30, 60, half_open_calls=2), clock=clock)
    dep = Dependency()
    dep.broken = True

    assert [await _attempt(breaker, dep) for _ in range(3)] == ["failed"] * 3
    assert breaker.state is OPEN and dep.calls == 3

    # While open: nothing reaches the dependency, right up to the reset time.
    assert [await _attempt(breaker, dep) for _ in range(10)] == ["rejected"] * 10
    clock.advance(59.999)
    assert await _attempt(breaker, dep) == "rejected"
    assert dep.calls == 3
    assert 0 < breaker.retry_after_s() < 0.01

    # Half-open: 50 concurrent callers, the dependency holds every call it gets.
    clock.advance(0.001)
    dep.broken = False
    dep.gate = asyncio.Event()
    tasks = [asyncio.create_task(_attempt(breaker, dep)) for _ in range(50)]
    await asyncio.sleep(0)  # let every caller reach the breaker
    assert dep.calls == 3 + 2  # exactly the two trial calls
    dep.gate.set()
    results = await asyncio.gather(*tasks)
    assert results.count("ok") == 2 and results.count("rejected") == 48
    assert dep.calls == 5
    assert _sequence(breaker) == [(CLOSED, OPEN), (OPEN, HALF), (HALF, CLOSED)]

    # Closed again: every call goes through.
    dep.gate = None
    assert [await _attempt(breaker, dep) for _ in range(5)] == ["ok"] * 5
    assert dep.calls == 10


async def test_failed_trial_reopens_and_restarts_the_timer() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("payments", BreakerPolicy(5, 15, 30, half_open_calls=1), clock=clock)
    dep = Dependency()
    dep.broken = True
    for _ in range(5):
        await _attempt(breaker, dep)
    clock.advance(30)
    assert await _attempt(breaker, dep) == "failed"  # the one trial
    assert dep.calls == 6
    clock.advance(29.9)  # timer restarted at the failed trial
    assert await _attempt(breaker, dep) == "rejected"
    clock.advance(0.1)
    dep.broken = False
    assert await _attempt(breaker, dep) == "ok"
    assert dep.calls == 7
    assert _sequence(breaker) == [
        (CLOSED, OPEN),
        (OPEN, HALF),
        (HALF, OPEN),
        (OPEN, HALF),
        (HALF, CLOSED),
    ]


async def test_only_consecutive_failures_open() -> None:
    breaker = CircuitBreaker("sms", BreakerPolicy(3, 10, 30), clock=FakeClock())
    dep = Dependency()
    for broken in (True, True, False, True, True, False, True, True):
        dep.broken = broken
        await _attempt(breaker, dep)
    assert breaker.state is CLOSED and dep.calls == 8
    dep.broken = True
    await _attempt(breaker, dep)
    assert breaker.state is OPEN
    assert _sequence(breaker) == [(CLOSED, OPEN)]


async def test_slow_calls_count_as_failures_and_open_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("database", BreakerPolicy(5, 10, 30), clock=clock)
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        clock.advance(10.5)  # answers, but after the 10 s timeout
        return "late"

    for _ in range(5):
        assert await breaker.call(slow) == "late"  # the result still comes back
    assert breaker.state is OPEN
    assert breaker.stats.slow == 5
    with pytest.raises(CircuitOpenError):
        await breaker.call(slow)
    assert calls == 5


async def test_a_hanging_dependency_is_cut_off_at_the_timeout() -> None:
    breaker = CircuitBreaker("email", BreakerPolicy(2, 0.05, 30))
    never = asyncio.Event()
    with pytest.raises(CallTimeoutError) as info:
        await breaker.call(never.wait)
    assert info.value.dependency == "email" and info.value.timeout_s == 0.05
    with pytest.raises(CallTimeoutError):
        await breaker.call(never.wait)
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError) as rejected:
        await breaker.call(never.wait)
    assert rejected.value.retry_after_header == "30"


async def test_a_cancelled_trial_gives_its_slot_back() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("storage", BreakerPolicy(1, 15, 30, half_open_calls=1), clock=clock)
    dep = Dependency()
    dep.broken = True
    await _attempt(breaker, dep)
    clock.advance(30)
    dep.broken = False
    dep.gate = asyncio.Event()
    trial = asyncio.create_task(breaker.call(dep))
    await asyncio.sleep(0)
    assert await _attempt(breaker, dep) == "rejected"  # the only slot is taken
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    dep.gate.set()
    assert await _attempt(breaker, dep) == "ok"  # the slot came back
    assert breaker.state is CLOSED


async def test_outcomes_from_an_earlier_state_are_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("ai", BreakerPolicy(1, 30, 60), clock=clock)
    late = Dependency()
    late.gate = asyncio.Event()
    late.broken = True
    straggler = asyncio.create_task(_attempt(breaker, late))  # admitted while closed
    await asyncio.sleep(0)
    dep = Dependency()
    dep.broken = True
    await _attempt(breaker, dep)  # opens the breaker
    opened_retry = breaker.retry_after_s()
    clock.advance(10)
    late.gate.set()
    assert await straggler == "failed"
    # The straggler's failure did not restart the open timer.
    assert breaker.retry_after_s() == pytest.approx(opened_retry - 10)
    assert _sequence(breaker) == [(CLOSED, OPEN)]


async def test_errors_that_are_not_the_dependencys_fault_do_not_count() -> None:
    breaker = CircuitBreaker(
        "database",
        BreakerPolicy(1, 10, 30),
        clock=FakeClock(),
        is_failure=lambda exc: not isinstance(exc, KeyError),
    )

    async def missing() -> None:
        raise KeyError("no such photo")

    for _ in range(3):
        with pytest.raises(KeyError):
            await breaker.call(missing)
    assert breaker.state is CLOSED and breaker.stats.succeeded == 3


def test_sync_guard_from_many_threads() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("database", BreakerPolicy(5, 10, 30), clock=clock)
    seen = 0

    def query(fail: bool) -> str:
        nonlocal seen
        try:
            with breaker.guard():
                seen += 1
                if fail:
                    raise ConnectionError("server closed the connection")
                return "row"
        except CircuitOpenError:
            return "rejected"
        except ConnectionError:
            return "failed"

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(query, [False] * 20)) == ["row"] * 20
        assert list(pool.map(query, [True] * 5)) == ["failed"] * 5
        assert list(pool.map(query, [False] * 20)) == ["rejected"] * 20
    assert seen == 25
    assert _sequence(breaker) == [(CLOSED, OPEN)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failures": 0, "timeout_s": 1, "reset_s": 1}, "failures must be >= 1, got 0"),
        ({"failures": 1, "timeout_s": -1, "reset_s": 1}, "timeout_s must be > 0, got -1"),
        ({"failures": 1, "timeout_s": 1, "reset_s": 0}, "reset_s must be > 0, got 0"),
        (
            {"failures": 1, "timeout_s": 1, "reset_s": 1, "half_open_calls": 0},
            "half_open_calls must be >= 1, got 0",
        ),
    ],
)
def test_policy_names_the_bad_value(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]


#: The source document's table: failures / timeout s / reset s, per dependency.
TABLE = {
    "database": (5, 10, 30),
    "ai": (3, 30, 60),
    "payments": (5, 15, 30),
    "sms": (5, 10, 30),
    "email": (5, 10, 30),
    "storage": (5, 15, 30),
    "replica": (3, 2, 10),
    "cache": (3, 0.5, 10),
}


def _failure_of(name: str) -> Exception:
    """What a broken ``name`` raises; the database breakers count only the database's faults."""
    if name in {"database", "replica"}:
        return OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    return ConnectionError(f"{name} down")


@pytest.mark.parametrize("cause", ["errors", "slow calls"])
@pytest.mark.parametrize("name", DEPENDENCIES)
async def test_each_configured_breaker_follows_its_row_of_the_table(name: str, cause: str) -> None:
    """The service's own breakers (built from the settings, as the app builds them)."""
    clock = FakeClock()
    settings = dev_settings()
    registry = BreakerRegistry.from_settings(
        settings, clock=clock, is_failure={"database": is_database_failure}
    )
    breaker = registry[name]
    policy = breaker.policy
    assert (policy.failures, policy.timeout_s, policy.reset_s) == TABLE[name]
    trials = settings.breaker_half_open_calls
    calls = 0
    broken = True
    gate: asyncio.Event | None = None

    async def dependency() -> str:
        nonlocal calls
        calls += 1
        if gate is not None:
            await gate.wait()
        if broken and cause == "errors":
            raise _failure_of(name)
        if broken:
            clock.advance(policy.timeout_s + 0.5)  # answers, but after the timeout
        return "ok"

    async def attempt() -> str:
        try:
            return await breaker.call(dependency)
        except CircuitOpenError:
            return "rejected"
        except (OperationalError, ConnectionError):
            return "failed"

    expected = "failed" if cause == "errors" else "ok"  # a late answer still comes back
    assert [await attempt() for _ in range(policy.failures - 1)] == [expected] * (
        policy.failures - 1
    )
    assert breaker.state is CLOSED  # one short of the threshold
    assert await attempt() == expected
    assert breaker.state is OPEN and calls == policy.failures

    # Open: rejected at once, the dependency sees nothing, right up to the reset time.
    assert [await attempt() for _ in range(20)] == ["rejected"] * 20
    clock.advance(policy.reset_s - 0.001)
    assert await attempt() == "rejected"
    assert calls == policy.failures

    # Half-open: 50 concurrent callers, exactly the configured trial calls get through.
    clock.advance(0.001)
    broken = False
    gate = asyncio.Event()
    tasks = [asyncio.create_task(attempt()) for _ in range(50)]
    await asyncio.sleep(0)
    assert calls == policy.failures + trials
    gate.set()
    results = await asyncio.gather(*tasks)
    assert Counter(results) == {"ok": trials, "rejected": 50 - trials}
    assert calls == policy.failures + trials
    assert _sequence(breaker) == [(CLOSED, OPEN), (OPEN, HALF), (HALF, CLOSED)]
    assert breaker.stats.rejected == 21 + 50 - trials
