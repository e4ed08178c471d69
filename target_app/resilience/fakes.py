"""In-process fakes of the external services: AI, payments, SMS, e-mail and storage.

They stand in for real providers so load tests exercise the same code paths (an awaited call
with network-like latency, through a circuit breaker) without a network. Each fake takes its
base latency from ``FAKE_LATENCY_MS`` and reads the `FaultBoard` on every call, so latency,
errors and hangs can be switched on and off while the service runs::

    board.set("payments", Fault(error_rate=1.0))   # payments outage
    board.set("ai", Fault(latency_s=45))            # slower than the AI breaker's 30 s timeout
    board.set("sms", Fault(hang=True))              # never answers

Every fake records what it did (``calls``, and the effect: holds placed, messages delivered,
objects stored), so tests can check that nothing was lost and nothing duplicated. Deliveries
and holds are keyed (outbox id, job id) and idempotent, as real providers' idempotency keys
make them: a retry after a lost acknowledgement does not send twice.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from target_app.core.errors import InjectedFault
from target_app.resilience.faults import FaultBoard

#: Keyword rules the fake "model" and the fallback share; see `fallbacks.categorize_by_rules`.
CATEGORY_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "plumbing": ("leak", "pipe", "faucet", "toilet", "drain", "water heater", "plumb", "sink"),
    "electrical": ("outlet", "wiring", "breaker panel", "light fixture", "electric", "switch"),
    "roofing": ("roof", "shingle", "gutter", "flashing", "skylight"),
    "painting": ("paint", "stain", "primer", "wallpaper"),
    "landscaping": ("lawn", "garden", "tree", "yard", "hedge", "landscap", "sprinkler"),
    "hvac": ("hvac", "furnace", "air condition", "heat pump", "duct", "thermostat", "ac unit"),
    "carpentry": ("deck", "cabinet", "shelf", "shelves", "trim", "carpent", "door frame"),
    "cleaning": ("clean", "maid", "carpet shampoo", "pressure wash", "window wash"),
    "flooring": ("floor", "tile", "hardwood", "laminate", "vinyl plank"),
    "remodeling": ("remodel", "renovat", "kitchen", "bathroom", "basement", "addition"),
}


def score_categories(text: str) -> dict[str, int]:
    """How many of each category's keywords occur in ``text`` (lower-cased)."""
    lowered = text.lower()
    return {
        category: sum(1 for word in words if word in lowered)
        for category, words in CATEGORY_KEYWORDS.items()
    }


@dataclass(eq=False, repr=False)
class FakeDependency:
    """Base of the fakes: latency, injected faults and a call count.

    A dataclass, so that each fake declares only the record it adds (holds, deliveries).
    """

    name: str
    board: FaultBoard
    base_latency_s: float = 0.0
    seed: int = 0
    calls: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.name}:{self.seed}")

    def __repr__(self) -> str:
        fault = self.board.get(self.name)
        return f"{type(self).__name__}(latency={self.base_latency_s}s, fault={fault})"

    async def _enter(self) -> None:
        """Wait out the latency and fail or hang as the board says; call before acting."""
        self.calls += 1
        fault = self.board.get(self.name)
        if fault.hang:
            await asyncio.Event().wait()  # forever: only a timeout or cancellation ends it
        delay = self.base_latency_s + fault.latency_s
        if delay > 0:
            await asyncio.sleep(delay)
        if fault.error_rate > 0 and self._rng.random() < fault.error_rate:
            self.failures += 1
            raise InjectedFault(self.name, f"injected error (rate {fault.error_rate:g})")


@dataclass(eq=False, repr=False)
class FakeAI(FakeDependency):
    """Checks a job's category against its text (the "model" is a weighted keyword score).

    The homeowner's choice stands unless the text clearly names another trade: the declared
    category is kept when it scores at all, or when nothing scores.
    """

    async def categorize(self, title: str, description: str, declared: str) -> str:
        """The most likely category of a job."""
        await self._enter()
        # The title says more than the description: count it three times.
        scores = score_categories(f"{title} {title} {title} {description}")
        if scores.get(declared, 0) > 0:
            return declared
        best, score = max(scores.items(), key=lambda item: item[1])
        return best if score > 0 else declared


@dataclass(slots=True)
class Hold:
    """A payment hold placed on award."""

    hold_id: str
    job_id: int
    bid_id: int
    amount: int


@dataclass(eq=False, repr=False)
class FakePayments(FakeDependency):
    """Places payment holds; one hold per job whatever the number of retries."""

    holds: dict[int, Hold] = field(default_factory=dict, init=False)

    async def hold(self, job_id: int, bid_id: int, amount: int) -> str:
        """Hold ``amount`` for the award of ``job_id``; returns the hold id (idempotent)."""
        await self._enter()
        existing = self.holds.get(job_id)
        if existing is None:
            existing = Hold(f"hold_{job_id}_{bid_id}", job_id, bid_id, amount)
            self.holds[job_id] = existing
        return existing.hold_id


@dataclass(slots=True)
class Delivery:
    """One notification a messaging fake accepted."""

    key: str
    to: str
    text: str


@dataclass(eq=False, repr=False)
class FakeMessaging(FakeDependency):
    """SMS or e-mail: accepts messages keyed by an idempotency key (the outbox id)."""

    delivered: dict[str, Delivery] = field(default_factory=dict, init=False)
    duplicates: int = field(default=0, init=False)

    async def send(self, key: str, to: str, text: str) -> str:
        """Deliver ``text`` to ``to``; a repeated ``key`` is acknowledged, not re-sent."""
        await self._enter()
        if key in self.delivered:
            self.duplicates += 1
        else:
            self.delivered[key] = Delivery(key, to, text)
        return key


@dataclass(eq=False, repr=False)
class FakeStorage(FakeDependency):
    """Stores job photos in memory."""

    _SAFE_KEY: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9/_.-]{1,200}$")

    objects: dict[str, bytes] = field(default_factory=dict, init=False)

    async def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; returns its URL."""
        if not self._SAFE_KEY.match(key) or ".." in key:
            raise ValueError(f"storage key {key!r} must be 1-200 of [A-Za-z0-9/_.-], no '..'")
        await self._enter()
        self.objects[key] = data
        return f"https://storage.invalid/{key}"


@dataclass(slots=True)
class FakeServices:
    """The five fakes, sharing one fault board."""

    board: FaultBoard
    ai: FakeAI
    payments: FakePayments
    sms: FakeMessaging
    email: FakeMessaging
    storage: FakeStorage

    @classmethod
    def create(
        cls, latencies_s: Mapping[str, float] | None = None, *, seed: int = 0
    ) -> FakeServices:
        """All fakes with the given base latencies (seconds; missing ones are 0)."""
        board = FaultBoard()
        lat = dict(latencies_s or {})

        def latency(name: str) -> float:
            return lat.get(name, 0.0)

        return cls(
            board=board,
            ai=FakeAI("ai", board, latency("ai"), seed),
            payments=FakePayments("payments", board, latency("payments"), seed),
            sms=FakeMessaging("sms", board, latency("sms"), seed),
            email=FakeMessaging("email", board, latency("email"), seed),
            storage=FakeStorage("storage", board, latency("storage"), seed),
        )
