"""HAProxy in front of real tiny HTTP backends: balancing over two, one taken out when it fails
its health check and put back when it recovers, and its counts reconciled with theirs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.errors import UsageError
from harness.lab.cleanup import LabLedger
from harness.lab.haproxy import BalancerSettings, HAProxy, ServerSample
from harness.lab.programs import HAPROXY
from harness.lab.sampling import Sampler
from tests.harness.lab.backends import Backend
from tests.harness.lab.conftest import require_programs

FAST_CHECKS = BalancerSettings(check_interval_s=0.1, fall=2, rise=2)


@pytest.fixture
def backends() -> Iterator[tuple[Backend, Backend]]:
    started = Backend().start(), Backend().start()
    try:
        yield started
    finally:
        for backend in started:
            backend.stop()


def by_server(samples: list[ServerSample]) -> dict[str, ServerSample]:
    return {sample.server: sample for sample in samples}


@pytest.mark.slow
def test_balances_takes_a_failing_instance_out_puts_it_back_and_counts_match(
    ledger: LabLedger, backends: tuple[Backend, Backend]
) -> None:
    require_programs(HAPROXY)
    first, second = backends
    with HAProxy(ledger, (first.port, second.port), FAST_CHECKS) as balancer:
        directory = balancer.directory
        assert directory is not None
        config = (directory / "haproxy.cfg").read_text()
        assert "balance leastconn" in config and "option httpchk GET /health/ready" in config
        balancer.wait_all_up(timeout_s=10)
        with Sampler(balancer.sample, interval_s=0.1) as sampler, httpx.Client() as client:
            answers = [client.get(f"{balancer.url}/jobs").status_code for _ in range(40)]
            assert answers == [200] * 40
            assert first.served() > 0 and second.served() > 0
            assert first.served() + second.served() == 40
            # Keep-alive to the instances: 40 requests over a connection or two each.
            assert first.request_connections() + second.request_connections() <= 4

            first.healthy = False
            balancer.wait_status("instance_1", "DOWN", timeout_s=10)
            served_before = first.served()
            assert [client.get(f"{balancer.url}/jobs").status_code for _ in range(10)] == [200] * 10
            assert first.served() == served_before, "a DOWN instance gets no request"

            first.healthy = True
            balancer.wait_status("instance_1", "UP", timeout_s=10)
            for _ in range(20):
                client.get(f"{balancer.url}/jobs")
            assert first.served() > served_before, "back UP, it gets requests again"
        final = by_server(balancer.sample())
    assert {name: s.sessions_total for name, s in final.items()} == {
        "instance_1": first.served(),
        "instance_2": second.served(),
    }
    assert final["instance_1"].failed_checks >= FAST_CHECKS.fall
    assert all(s.responses_5xx == 0 and s.status == "UP" for s in final.values())
    statuses = {(s.server, s.status) for s in sampler.records}
    assert ("instance_1", "DOWN") in statuses and ("instance_1", "UP") in statuses
    assert not sampler.errors
    assert not directory.exists() and balancer.process is None


def test_requests_haproxy_answers_itself_are_counted_apart(
    ledger: LabLedger, backends: tuple[Backend, Backend]
) -> None:
    """With every instance down HAProxy answers 503 itself: the front door's count minus the
    instances' is exactly those answers (how an overloaded lab run still reconciles)."""
    require_programs(HAPROXY)
    first, second = backends
    with HAProxy(ledger, (first.port, second.port), FAST_CHECKS) as balancer:
        balancer.wait_all_up(timeout_s=10)
        received_before, passed_before = balancer.request_counts()
        with httpx.Client() as client:
            assert [client.get(f"{balancer.url}/jobs").status_code for _ in range(6)] == [200] * 6
            first.healthy = second.healthy = False
            balancer.wait_status("instance_1", "DOWN", timeout_s=10)
            balancer.wait_status("instance_2", "DOWN", timeout_s=10)
            assert [client.get(f"{balancer.url}/jobs").status_code for _ in range(4)] == [503] * 4
        received, passed = balancer.request_counts()
    assert passed - passed_before == 6 == first.served() + second.served()
    assert received - received_before == 10  # the health checks are not front-door requests
    assert (received - received_before) - (passed - passed_before) == 4


def test_needs_at_least_one_backend(ledger: LabLedger) -> None:
    with pytest.raises(UsageError, match="haproxy backends: none given"):
        HAProxy(ledger, ())


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"check_interval_s": 0}, "check interval: 0 s; expected more than 0"),
        ({"fall": 0}, "health check fall: 0; expected 1 or more"),
    ],
)
def test_health_check_settings_that_cannot_work_are_refused(
    settings: dict[str, float], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        BalancerSettings(**settings)  # type: ignore[arg-type]
