"""The request plane: the heap recursion gives exactly what a simpy.Resource model gives;
fleet changes, the circuit breaker and external calls behave as documented."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from models.simulation import CircuitBreaker, ExternalCall, System, SystemSpec


def _spec(workers: int, pool: int, timeout: float, failures: int = 10**9) -> SystemSpec:
    return SystemSpec(
        workers_per_instance=workers,
        pool_size=pool,
        acquire_timeout_s=timeout,
        breakers={"database": (failures, 10.0, 30.0), "payments": (2, 0.5, 5.0)},
    )


def _resource_model(
    times: list[float], work: list[float], db: list[float], workers: int, pool: int,
    timeout: float,
) -> tuple[list[float], int]:  # fmt: skip
    """The same system written the usual SimPy way: Resources, requests, timeouts."""
    env = simpy.Environment()
    worker_pool = simpy.Resource(env, workers)
    connections = simpy.Resource(env, pool)
    latencies: list[float] = []
    errors = 0

    def request(i: int) -> Generator[simpy.Event, Any, None]:
        nonlocal errors
        arrived = env.now
        with worker_pool.request() as worker:
            yield worker
            connection = connections.request()
            got = yield connection | env.timeout(timeout)
            if connection not in got:
                connection.cancel()
                errors += 1
                return
            yield env.timeout(db[i])
            connections.release(connection)
            yield env.timeout(work[i] - db[i])
        latencies.append(env.now - arrived)

    def source() -> Generator[simpy.Event, Any, None]:
        for i, t in enumerate(times):
            yield env.timeout(t - env.now)
            env.process(request(i))

    env.process(source())
    env.run()
    return latencies, errors


def test_heap_recursion_equals_simpy_resources_with_waits_and_timeouts() -> None:
    rng = np.random.default_rng(7)
    n, workers, pool, timeout = 4000, 4, 2, 0.008
    times = np.cumsum(rng.exponential(1 / 330.0, n)).tolist()
    work = (rng.exponential(0.01, n)).tolist()
    db = [w * 0.6 for w in work]  # the pool (2 x 60%) is the tighter resource
    system = System(_spec(workers, pool, timeout), 1, rng)
    system.arrive_batch(times, [0] * n, work, db)
    system.drain_until(math.inf)
    expected, expected_errors = _resource_model(times, work, db, workers, pool, timeout)
    assert 100 < expected_errors < n // 4  # the comparison covers waits and timeouts
    assert system.counters.errors == expected_errors
    assert sorted(system.counters.latencies) == pytest.approx(sorted(expected), abs=1e-9)


def test_new_instance_serves_only_after_provisioning() -> None:
    system = System(_spec(1, 10, 5.0), 1, np.random.default_rng(0))
    system.add_instances(1, ready_at=10.0)
    system.arrive(0.0, -1, 0, 100.0, 0.0)  # occupies the only ready worker until 100
    system.arrive(1.0, -1, 0, 1.0, 0.0)  # must wait for the new instance at 10
    system.drain_until(math.inf)
    assert system.counters.latencies == [100.0, pytest.approx(10.0)]


def test_drained_instance_takes_no_new_requests() -> None:
    system = System(_spec(1, 10, 5.0), 2, np.random.default_rng(0))
    system.remove_instances(1)
    system.arrive(0.0, -1, 0, 5.0, 0.0)
    system.arrive(0.5, -1, 0, 1.0, 0.0)  # one worker left: waits until 5
    system.drain_until(math.inf)
    assert system.counters.latencies == [5.0, pytest.approx(5.5)]


def test_database_breaker_opens_after_consecutive_timeouts_and_fails_fast() -> None:
    # One connection held for 100 s: every later request times out after 1 s until the
    # breaker (3 failures) opens; then requests fail at once, with no worker time.
    system = System(_spec(50, 1, 1.0, failures=3), 1, np.random.default_rng(0))
    system.arrive(0.0, -1, 0, 100.0, 100.0)
    for i in range(10):
        system.arrive(1.0 + i * 0.1, -1, 0, 0.01, 0.01)
    system.drain_until(math.inf)
    assert system.counters.timeouts == 3
    assert system.counters.errors == 10
    assert system.db_breaker.opened == 1
    assert system.counters.busy_s == pytest.approx(100.0 + 3 * 1.0)


def test_breaker_half_open_trial_closes_on_success() -> None:
    breaker = CircuitBreaker(failures=2, reset_s=30.0)
    breaker.record(0.0, ok=False)
    assert breaker.allow(1.0)
    breaker.record(1.0, ok=False)
    assert not breaker.allow(10.0)
    assert breaker.allow(31.0)  # the trial
    assert not breaker.allow(31.5)  # only one trial at a time
    breaker.record(32.0, ok=True)
    assert breaker.allow(32.5) and breaker.consecutive == 0


def test_failing_external_service_opens_its_breaker() -> None:
    payments = ExternalCall("payments", ("POST /jobs",), latency_s=0.01, failure_probability=1.0)
    system = System(
        _spec(4, 10, 5.0), 1, np.random.default_rng(1), (payments,), ("GET /jobs", "POST /jobs")
    )
    for i in range(6):
        system.arrive(i * 1.0, -1, 1, 0.01, 0.0)
    system.arrive(10.0, -1, 0, 0.01, 0.0)  # an endpoint without the call is unaffected
    system.drain_until(math.inf)
    assert system.counters.errors == 6
    assert len(system.counters.latencies) == 1
    breaker = system._externals[1][0][1]
    assert breaker.opened == 1  # 2 failures opened it; the other 4 failed fast


def test_external_call_from_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="'fax' has no breaker"):
        System(_spec(1, 1, 1.0), 1, np.random.default_rng(0),
               (ExternalCall("fax", ("GET /jobs",), 0.1),), ("GET /jobs",))  # fmt: skip


def test_a_request_past_the_request_timeout_is_an_error_and_frees_its_worker() -> None:
    spec = SystemSpec(
        workers_per_instance=1,
        pool_size=10,
        acquire_timeout_s=5.0,
        breakers={"database": (10**9, 10.0, 30.0)},
        request_timeout_s=1.0,
    )
    system = System(spec, 1, np.random.default_rng(0))
    # (arrival, work): the first runs past its deadline and is cut at 1.0; the second's
    # deadline (1.0) passes while it queues: 503 without a worker; the third runs 1.0-1.02;
    # the fourth starts at 1.02 and is cut at its deadline 1.1; the fifth runs 1.1-1.2.
    arrivals = [(0.0, 2.0), (0.0, 0.5), (0.05, 0.02), (0.1, 0.5), (0.5, 0.1)]
    for t, work in arrivals:
        system.arrive(t, -1, 0, work, 0.0)
    system.drain_until(math.inf)
    assert system.counters.errors == 3
    assert system.counters.latencies == pytest.approx([0.97, 0.7])
    assert system.counters.busy_s == pytest.approx(1.0 + 0.02 + 0.08 + 0.1)


def test_a_cache_hit_needs_no_connection() -> None:
    system = System(_spec(2, 1, 0.5), 1, np.random.default_rng(0))
    system.arrive_batch([0.0, 0.1], [0, 0], [5.0, 0.2], [5.0, 0.0], [0, -1])
    system.drain_until(math.inf)
    assert system.counters.errors == 0
    assert sorted(system.counters.latencies) == pytest.approx([0.2, 5.0])
