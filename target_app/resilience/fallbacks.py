"""What the service does when an external dependency is unavailable.

=============  ===========================================  ==================================
dependency     normal path                                  fallback
=============  ===========================================  ==================================
AI             check a new job's category against its text  keyword rules on the title, else
                                                            the category the homeowner chose
payments       hold the payment on award                    award recorded *payment pending*,
                                                            retried (``payments.py``)
SMS, e-mail    notify on bids, awards, messages             always via the outbox: delayed,
                                                            never lost (``outbox.py``)
storage        store a job photo                            503 + ``Retry-After`` (nothing
                                                            sensible can stand in for a photo)
=============  ===========================================  ==================================

Each call goes through the dependency's circuit breaker: while it is open the fallback is
taken at once, without waiting for a timeout, and the dependency gets room to recover.
"""

from __future__ import annotations

from dataclasses import dataclass

from target_app.core.errors import DependencyUnavailable
from target_app.resilience.breaker import CircuitBreaker
from target_app.resilience.fakes import CATEGORY_KEYWORDS, FakeAI, FakeStorage


@dataclass(frozen=True, slots=True)
class Categorization:
    """A job's category and who decided it: ``ai`` or ``rules`` (the fallback)."""

    category: str
    source: str


def categorize_by_rules(title: str, declared: str) -> str:
    """The fallback: the first category with a keyword in the title, else ``declared``."""
    lowered = title.lower()
    for category, words in CATEGORY_KEYWORDS.items():
        if any(word in lowered for word in words):
            return category
    return declared


async def categorize_job(
    ai: FakeAI, breaker: CircuitBreaker, title: str, description: str, declared: str
) -> Categorization:
    """Categorise through the AI service; on any failure or an open breaker, by the rules."""
    try:
        category = await breaker.call(ai.categorize, title, description, declared)
    except Exception:  # the AI is an enhancement: whatever went wrong, the rules decide
        return Categorization(categorize_by_rules(title, declared), "rules")
    return Categorization(category, "ai")


async def store_photo(storage: FakeStorage, breaker: CircuitBreaker, key: str, data: bytes) -> str:
    """Store a photo; `DependencyUnavailable` (-> 503 + Retry-After) when storage is down."""
    try:
        return await breaker.call(storage.put, key, data)
    except DependencyUnavailable:
        raise
    except ValueError:
        raise  # a bad key is the caller's error, not an outage
    except Exception as exc:
        raise DependencyUnavailable("storage", f"{type(exc).__name__}: {exc}") from exc
