"""Fallbacks and fakes: what each dependency does when it is slow, failing or gone."""

from __future__ import annotations

import asyncio

import pytest

from target_app.core.errors import DependencyUnavailable, InjectedFault
from target_app.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from target_app.resilience.fakes import FakeServices
from target_app.resilience.fallbacks import categorize_by_rules, categorize_job, store_photo
from target_app.resilience.faults import Fault, FaultBoard

from .clock import FakeClock

pytestmark = pytest.mark.anyio

LEAK = ("Kitchen sink leak", "Water under the sink, the pipe drips")


async def test_ai_categorises_when_healthy() -> None:
    services = FakeServices.create()
    breaker = CircuitBreaker("ai", BreakerPolicy(3, 30, 60))
    result = await categorize_job(services.ai, breaker, *LEAK, declared="cleaning")
    assert (result.category, result.source) == ("plumbing", "ai")
    # "Kitchen" is a remodeling word: a homeowner who chose remodeling is not overruled.
    kept = await categorize_job(services.ai, breaker, *LEAK, declared="remodeling")
    assert (kept.category, kept.source) == ("remodeling", "ai")
    vague = await categorize_job(services.ai, breaker, "Help", "please", declared="hvac")
    assert vague.category == "hvac"


async def test_ai_down_falls_back_to_keyword_rules_then_stops_calling() -> None:
    services = FakeServices.create()
    services.board.set("ai", Fault(error_rate=1.0))
    breaker = CircuitBreaker("ai", BreakerPolicy(3, 30, 60), clock=FakeClock())
    results = [
        await categorize_job(services.ai, breaker, "Replace roof shingles", "", declared="hvac")
        for _ in range(6)
    ]
    assert {(r.category, r.source) for r in results} == {("roofing", "rules")}
    assert services.ai.calls == 3  # the breaker opened; calls 4-6 never reached the AI
    assert breaker.state is BreakerState.open


async def test_slow_ai_is_cut_off_and_the_rules_keep_the_declared_category() -> None:
    services = FakeServices.create()
    services.board.set("ai", Fault(latency_s=5))
    breaker = CircuitBreaker("ai", BreakerPolicy(3, 0.05, 60))
    started = asyncio.get_running_loop().time()
    result = await categorize_job(services.ai, breaker, "Odd job", "no keywords", "carpentry")
    assert asyncio.get_running_loop().time() - started < 1.0
    assert (result.category, result.source) == ("carpentry", "rules")


def test_rules_prefer_the_title_and_default_to_the_declared_category() -> None:
    assert categorize_by_rules("New hardwood floor", "painting") == "flooring"
    assert categorize_by_rules("Something", "painting") == "painting"


async def test_a_hanging_fake_never_answers_until_cancelled() -> None:
    services = FakeServices.create()
    services.board.set("sms", Fault(hang=True))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(services.sms.send("k", "u", "t"), timeout=0.1)
    assert services.sms.delivered == {}
    services.board.clear("sms")
    assert await services.sms.send("k", "u", "t") == "k"


async def test_error_rate_is_a_share_of_calls_with_a_fixed_seed() -> None:
    services = FakeServices.create(seed=7)
    services.board.set("email", Fault(error_rate=0.3))
    failures = 0
    for i in range(400):
        try:
            await services.email.send(str(i), "u", "t")
        except InjectedFault:
            failures += 1
    assert 90 <= failures <= 150  # 120 expected; binomial sd is 9
    assert services.email.failures == failures


async def test_injected_latency_is_added_to_the_base_latency() -> None:
    services = FakeServices.create({"payments": 0.02})
    services.board.set("payments", Fault(latency_s=0.05))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await services.payments.hold(1, 2, 300)
    assert 0.07 <= loop.time() - started < 0.5
    assert await services.payments.hold(1, 2, 300) == "hold_1_2"
    assert len(services.payments.holds) == 1  # idempotent per job


async def test_storage_down_is_503_material_and_bad_keys_are_not() -> None:
    services = FakeServices.create()
    breaker = CircuitBreaker("storage", BreakerPolicy(5, 15, 30))
    assert await store_photo(services.storage, breaker, "jobs/1/a.jpg", b"jpg") == (
        "https://storage.invalid/jobs/1/a.jpg"
    )
    services.board.set("storage", Fault(error_rate=1.0))
    with pytest.raises(DependencyUnavailable) as info:
        await store_photo(services.storage, breaker, "jobs/1/b.jpg", b"jpg")
    assert info.value.dependency == "storage" and info.value.retry_after_header == "1"
    with pytest.raises(ValueError, match="must be 1-200"):
        await store_photo(services.storage, breaker, "../etc/passwd", b"x")


def test_fault_board_checks_names_and_values() -> None:
    board = FaultBoard()
    with pytest.raises(KeyError, match="unknown dependency 'fax'"):
        board.set("fax", Fault())
    with pytest.raises(ValueError, match="error_rate must be between 0 and 1, got 1.5"):
        Fault(error_rate=1.5)
    with pytest.raises(ValueError, match="latency_s must be >= 0, got -1"):
        Fault(latency_s=-1)
    board.set("ai", Fault(hang=True))
    assert board.snapshot()["ai"] == {"latency_s": 0.0, "error_rate": 0.0, "hang": True}
    board.clear()
    assert all(board.get(name).healthy for name in board.dependencies)
