"""Client/server reconciliation, the Jepsen set check, and scraping Prometheus text."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from harness.run import integrity, reconcile
from harness.run.integrity import WriteRecord
from harness.run.scrape import delta_requests, parse_metrics
from models.run_records import EndpointCounts, KindCounts

METRICS_BEFORE = """\
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/jobs",status="200"} 10.0
http_requests_total{method="GET",route="/health",status="200"} 50.0
http_requests_total{method="POST",route="/jobs",status="201"} 2.0
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 3.5
# TYPE db_pool_connections_in_use gauge
db_pool_connections_in_use 4.0
# TYPE http_request_cpu_seconds_total counter
http_request_cpu_seconds_total{method="GET",route="/jobs"} 0.25
"""
METRICS_AFTER = (
    METRICS_BEFORE.replace('status="200"} 10.0', 'status="200"} 30.0').replace(
        '"/health",status="200"} 50.0', '"/health",status="200"} 90.0'
    )
    + 'http_requests_total{method="GET",route="/jobs",status="503"} 1.0\n'
)


def test_parse_metrics_collects_routes_and_scalars() -> None:
    scrape = parse_metrics(METRICS_BEFORE, t_s=1.5)
    assert scrape["t_s"] == 1.5 and scrape["cpu_seconds"] == 3.5 and scrape["pool_in_use"] == 4.0
    assert scrape["routes"]["GET /jobs"]["requests"] == 10.0
    assert scrape["routes"]["GET /jobs"]["cpu_seconds"] == 0.25


def test_server_deltas_leave_out_the_harness_own_routes() -> None:
    deltas = delta_requests(parse_metrics(METRICS_BEFORE, 0), parse_metrics(METRICS_AFTER, 9))
    assert deltas == {"GET /jobs": 21}  # 20 more 200s and one 503; /health is the probe's
    assert parse_metrics(METRICS_AFTER, 9)["routes"]["GET /jobs"]["errors"] == 1.0


def test_reconcile_matches_exactly_or_names_the_endpoints() -> None:
    same = reconcile.reconcile(
        {"GET /jobs": 21, "POST /jobs": 3}, {"GET /jobs": 21, "POST /jobs": 3}
    )
    assert same.match and same.client_total == same.server_total == 24
    differ = reconcile.reconcile({"GET /jobs": 20}, {"GET /jobs": 21, "GET /me": 1})
    assert not differ.match and differ.mismatched == ("GET /jobs", "GET /me")
    assert EndpointCounts("GET /me", client=0, server=1) in differ.by_endpoint
    assert not reconcile.reconcile({}, {}).match  # nothing measured is not a match


def test_set_check_finds_lost_and_unexpected_writes() -> None:
    writes = [
        WriteRecord("job", 11, True),
        WriteRecord("job", 12, True),
        WriteRecord("bid", 7, True),
        WriteRecord("message", None, False),
    ]
    in_db = {"job": frozenset({11, 13}), "bid": frozenset({7}), "message": frozenset({40, 41})}
    result = integrity.check(writes, in_db)
    assert result.acknowledged_writes == 3
    assert result.lost == 1 and result.lost_examples == ("job 12",)
    # job 13 was never attempted; one of the two messages is explained by the unacked attempt
    assert result.unexpected == 2 and result.recovered == 1
    assert result.by_kind["message"] == KindCounts(
        acknowledged=0, unacknowledged_attempts=1, in_database=2, lost=0, unexpected=1
    )


def test_set_check_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="'refund'"):
        integrity.check([WriteRecord("refund", 1, True)], {})


def test_snapshot_and_present_read_only_what_the_run_changed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT)"))
        c.execute(text("CREATE TABLE bids (id INTEGER PRIMARY KEY, status TEXT)"))
        c.execute(text("CREATE TABLE messages (id INTEGER PRIMARY KEY)"))
        c.execute(text("INSERT INTO jobs VALUES (1, 'awarded'), (2, 'open')"))
        c.execute(text("INSERT INTO bids VALUES (1, 'withdrawn'), (2, 'active')"))
    baseline = integrity.snapshot(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO jobs VALUES (3, 'open')"))
        c.execute(text("UPDATE jobs SET status = 'awarded' WHERE id = 2"))
        c.execute(text("UPDATE bids SET status = 'withdrawn' WHERE id = 2"))
        c.execute(text("INSERT INTO messages VALUES (1)"))
    engine.dispose()
    assert integrity.present(url, baseline) == {
        "job": frozenset({3}),
        "bid": frozenset(),
        "message": frozenset({1}),
        "award": frozenset({2}),
        "withdrawal": frozenset({2}),
    }


def _lab_scrape(received: int, passed: int) -> dict[str, object]:
    return {"lab": {"frontend_requests": received, "balancer_requests": passed}}


@pytest.mark.parametrize(
    ("client", "instances", "explained"),
    [
        (1064, 994, True),  # 70 more: exactly HAProxy's own answers
        (1064, 993, False),  # one request more than HAProxy answered itself: lost load
        (1064, 1000, False),  # fewer missing than it answered: a count is off somewhere
    ],
)
def test_only_haproxy_s_own_answers_exactly_explain_a_lab_count_difference(
    client: int, instances: int, explained: bool
) -> None:
    from types import SimpleNamespace

    from harness.run.outcome import _balancer_answers_explain
    from models.run_records import ServerVsClient

    # over the load HAProxy received 1,100 requests and passed 1,030 on: it answered 70
    observed = SimpleNamespace(before=_lab_scrape(36, 36), after=_lab_scrape(1136, 1066))
    result = ServerVsClient(client, instances, match=False)
    assert _balancer_answers_explain(observed, result) is explained  # type: ignore[arg-type]


def test_a_run_without_the_lab_is_never_explained_by_haproxy() -> None:
    from types import SimpleNamespace

    from harness.run.outcome import _balancer_answers_explain
    from models.run_records import ServerVsClient

    observed = SimpleNamespace(before={"routes": {}}, after={"routes": {}})
    result = ServerVsClient(10, 5, match=False)
    assert not _balancer_answers_explain(observed, result)  # type: ignore[arg-type]
