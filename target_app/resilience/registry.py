"""One circuit breaker per dependency, with the launch plan's policies.

The policies are ``BREAKER_DEFAULTS`` (``core/config.py``; docs/resilience.md lists them),
each overridable by ``BREAKER_<NAME>=failures/timeout_s/reset_s``. The registry also exposes
the breakers' state to ``/health/ready`` (`BreakerRegistry.snapshot`) and to Prometheus
(`BreakerMetrics`)::

    circuit_breaker_state{dependency}               gauge: 0 closed, 1 half-open, 2 open
                                                    (max over live workers)
    circuit_breaker_transitions_total{dependency,to} counter
    circuit_breaker_rejected_total{dependency}      counter: calls refused without trying
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from target_app.core.config import BREAKER_DEFAULTS, DEPENDENCIES, Settings, parse_breaker_spec
from target_app.resilience.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    Clock,
    FailurePredicate,
)

#: The launch plan's policy of each dependency, before any ``BREAKER_<NAME>`` override.
DEFAULT_POLICIES: Mapping[str, BreakerPolicy] = {
    name: BreakerPolicy(*parse_breaker_spec(f"BREAKER_{name.upper()}", spec))
    for name, spec in BREAKER_DEFAULTS.items()
}

#: Numeric value of each state in the ``circuit_breaker_state`` gauge (worse is higher, so the
#: maximum over workers is the worst any worker sees).
STATE_VALUE = {BreakerState.closed: 0, BreakerState.half_open: 1, BreakerState.open: 2}


def policies_from_settings(settings: Settings) -> dict[str, BreakerPolicy]:
    """The breaker table with the environment's overrides applied."""
    policies = {}
    for name in DEPENDENCIES:
        failures, timeout_s, reset_s = settings.breaker_spec(name)
        policies[name] = BreakerPolicy(
            failures, timeout_s, reset_s, half_open_calls=settings.breaker_half_open_calls
        )
    return policies


class BreakerRegistry(Mapping[str, CircuitBreaker]):
    """The service's breakers by dependency name: ``registry["payments"].call(...)``."""

    def __init__(
        self,
        policies: Mapping[str, BreakerPolicy] = DEFAULT_POLICIES,
        *,
        clock: Clock = time.monotonic,
        is_failure: Mapping[str, FailurePredicate] | None = None,
    ) -> None:
        predicates = dict(is_failure or {})
        self._breakers = {
            name: (
                CircuitBreaker(name, policy, clock=clock, is_failure=predicates[name])
                if name in predicates
                else CircuitBreaker(name, policy, clock=clock)
            )
            for name, policy in policies.items()
        }

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock = time.monotonic,
        is_failure: Mapping[str, FailurePredicate] | None = None,
    ) -> BreakerRegistry:
        """One breaker per dependency, policies from ``settings``."""
        return cls(policies_from_settings(settings), clock=clock, is_failure=is_failure)

    def __getitem__(self, name: str) -> CircuitBreaker:
        try:
            return self._breakers[name]
        except KeyError:
            raise KeyError(f"no breaker for {name!r}; one of {sorted(self._breakers)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._breakers)

    def __len__(self) -> int:
        return len(self._breakers)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """State and counts of every breaker, for ``/health/ready``."""
        result: dict[str, dict[str, Any]] = {}
        for name, breaker in self._breakers.items():
            policy = breaker.policy
            result[name] = {
                "state": breaker.state.value,
                "retry_after_s": round(breaker.retry_after_s(), 3),
                "failures_to_open": policy.failures,
                "timeout_s": policy.timeout_s,
                "reset_s": policy.reset_s,
                "rejected": breaker.stats.rejected,
            }
        return result

    def all_closed(self) -> bool:
        """True when no breaker is open or half-open."""
        return all(b.state is BreakerState.closed for b in self._breakers.values())


class BreakerMetrics:
    """Publishes breaker state and transitions as Prometheus metrics.

    Pass the application's registry (single process). In prometheus-client's multiprocess mode
    the values go to the shared directory whatever the registry, and the state gauge is merged
    with ``livemax``: the scrape shows the worst state any live worker is in.
    """

    def __init__(self, breakers: BreakerRegistry, registry: CollectorRegistry | None) -> None:
        self.state = Gauge(
            "circuit_breaker_state",
            "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
            ["dependency"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.transitions = Counter(
            "circuit_breaker_transitions_total",
            "Circuit breaker state changes per dependency and target state.",
            ["dependency", "to"],
            registry=registry,
        )
        self.rejected = Counter(
            "circuit_breaker_rejected_total",
            "Calls a circuit breaker refused without trying the dependency.",
            ["dependency"],
            registry=registry,
        )
        self._seen_rejected = {name: 0 for name in breakers}
        self._breakers = breakers
        for name, breaker in breakers.items():
            self.state.labels(name).set(STATE_VALUE[breaker.state])
            breaker.add_listener(self._on_transition)

    def _on_transition(self, name: str, _old: BreakerState, new: BreakerState) -> None:
        self.state.labels(name).set(STATE_VALUE[new])
        self.transitions.labels(name, new.value).inc()

    def refresh(self) -> None:
        """Bring lazily computed state and rejection counts up to date (call before a scrape)."""
        for name, breaker in self._breakers.items():
            self.state.labels(name).set(STATE_VALUE[breaker.state])
            rejected = breaker.stats.rejected
            if rejected > self._seen_rejected[name]:
                self.rejected.labels(name).inc(rejected - self._seen_rejected[name])
                self._seen_rejected[name] = rejected
