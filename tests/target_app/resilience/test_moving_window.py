"""The in-process moving window: the same answers as a plain count of the last minute's hits."""

from __future__ import annotations

import random

import pytest
from limits import RateLimitItemPerMinute, RateLimitItemPerSecond

from target_app.resilience.moving_window import InProcessMovingWindow

from .clock import FakeClock

pytestmark = pytest.mark.anyio


async def test_a_key_gets_exactly_its_limit_until_the_oldest_hit_leaves_the_window() -> None:
    clock = FakeClock(1_000_000.0)
    limiter = InProcessMovingWindow(clock)
    item = RateLimitItemPerMinute(3)
    answers = []
    for _ in range(4):
        answers.append(await limiter.hit(item, "anonymous", "addr:1"))
        clock.advance(10)
    assert answers == [True, True, True, False]
    stats = await limiter.get_window_stats(item, "anonymous", "addr:1")
    assert stats.remaining == 0
    assert stats.reset_time == pytest.approx(1_000_000.0 + 60)
    clock.advance(20)  # 60 s after the first hit: it leaves the window; the other two stay
    assert await limiter.hit(item, "anonymous", "addr:1")
    assert not await limiter.hit(item, "anonymous", "addr:1")
    stats = await limiter.get_window_stats(item, "anonymous", "addr:1")
    assert stats.remaining == 0
    assert stats.reset_time == pytest.approx(1_000_010.0 + 60)


async def test_keys_and_tiers_are_counted_apart_and_an_unseen_key_has_the_whole_limit() -> None:
    clock = FakeClock(1_000_000.0)
    limiter = InProcessMovingWindow(clock)
    small, large = RateLimitItemPerMinute(1), RateLimitItemPerMinute(2)
    assert await limiter.hit(small, "anonymous", "addr:1")
    assert not await limiter.hit(small, "anonymous", "addr:1")
    assert await limiter.hit(small, "anonymous", "addr:2")
    assert await limiter.hit(large, "authenticated", "addr:1")
    stats = await limiter.get_window_stats(large, "pro", "user:9")
    assert (stats.remaining, stats.reset_time) == (2, clock.now)
    assert limiter.keys == 3  # asking about a key does not store it


async def test_a_cost_above_what_is_left_is_refused_whole() -> None:
    limiter = InProcessMovingWindow(FakeClock(1_000_000.0))
    item = RateLimitItemPerMinute(5)
    assert not await limiter.hit(item, "k", cost=6)
    assert await limiter.hit(item, "k", cost=4)
    assert not await limiter.hit(item, "k", cost=2)
    assert await limiter.hit(item, "k", cost=1)
    assert (await limiter.get_window_stats(item, "k")).remaining == 0


async def test_idle_keys_are_forgotten_once_a_window_has_passed() -> None:
    clock = FakeClock(1_000_000.0)
    limiter = InProcessMovingWindow(clock)
    item = RateLimitItemPerMinute(10)
    for user in range(100):
        await limiter.hit(item, f"user:{user}")
    assert limiter.keys == 100
    clock.advance(30)
    await limiter.hit(item, "user:0")
    assert limiter.keys == 100  # no sweep inside the window
    clock.advance(31)
    await limiter.hit(item, "user:new")
    assert limiter.keys == 2  # user:0 was hit 31 s ago, so it stays
    assert (await limiter.get_window_stats(item, "user:5")).remaining == 10


async def test_random_traffic_matches_a_plain_count_of_the_window() -> None:
    """Against a naive reference: every hit's answer, remaining and reset agree."""
    rng = random.Random(7)
    clock = FakeClock(1_000_000.0)
    limiter = InProcessMovingWindow(clock)
    items = {"minute": RateLimitItemPerMinute(8), "second": RateLimitItemPerSecond(3)}
    counted: dict[tuple[str, str], list[float]] = {}
    for _ in range(5_000):
        clock.advance(rng.expovariate(4.0))
        name = rng.choice(list(items))
        item, key = items[name], f"addr:{rng.randrange(6)}"
        live = [t for t in counted.get((name, key), []) if t > clock.now - item.get_expiry()]
        expected = len(live) < item.amount
        assert await limiter.hit(item, name, key) == expected
        if expected:
            live.append(clock.now)
        counted[(name, key)] = live
        stats = await limiter.get_window_stats(item, name, key)
        assert stats.remaining == item.amount - len(live)
        assert stats.reset_time == pytest.approx(live[0] + item.get_expiry() if live else clock.now)
