"""Operator routes: each role against each, and what they report."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.target_app.conftest import SMALL_PLAN, Auth

OPERATOR_ROUTES = ["/operator/dashboard", "/operator/territories/1/metrics"]


@pytest.fixture
def db_url(shared_db_url: str) -> str:
    """This module's tests only read (or add rows nobody counts): one database per module."""
    return shared_db_url


@pytest.mark.parametrize("path", OPERATOR_ROUTES)
@pytest.mark.parametrize(
    ("role", "expected"), [("homeowner", 403), ("contractor", 403), ("operator", 200)]
)
def test_each_role_against_each_operator_route(
    client: TestClient, auth: Auth, path: str, role: str, expected: int
) -> None:
    assert client.get(path, headers=auth(role, 0)).status_code == expected


@pytest.mark.parametrize("path", OPERATOR_ROUTES)
def test_operator_routes_need_a_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


def test_dashboard(client: TestClient, auth: Auth) -> None:
    body = client.get("/operator/dashboard", headers=auth("operator", 0)).json()
    assert body["users_by_role"] == {
        "homeowner": SMALL_PLAN.homeowners,
        "contractor": SMALL_PLAN.contractors,
        "operator": SMALL_PLAN.operators,
    }
    assert body["jobs_posted"] == SMALL_PLAN.jobs
    assert body["bids"] == SMALL_PLAN.jobs * SMALL_PLAN.bids_per_job


def test_territory_metrics(client: TestClient, auth: Auth) -> None:
    body = client.get("/operator/territories/1/metrics", headers=auth("operator", 0)).json()
    jobs_in_territory = SMALL_PLAN.jobs // SMALL_PLAN.territories
    assert body["jobs_posted"] == jobs_in_territory
    assert body["bids"] == jobs_in_territory * SMALL_PLAN.bids_per_job
    assert body["bid_count_distribution"]["3"] == jobs_in_territory
    assert body["median_time_to_first_bid_s"] > 0
    assert body["contractors"] == SMALL_PLAN.contractors // SMALL_PLAN.territories
    assert (
        client.get("/operator/territories/999/metrics", headers=auth("operator", 0)).status_code
        == 404
    )


def test_contractor_discovery(client: TestClient, auth: Auth) -> None:
    body = client.get(
        "/contractors",
        params={"territory_id": 2, "available": True, "page_size": 100},
        headers=auth("homeowner", 0),
    ).json()
    assert body["items"]
    assert all(c["territory_id"] == 2 and c["available"] for c in body["items"])
    first = client.get("/contractors", params={"page_size": 5}, headers=auth("homeowner", 0)).json()
    second = client.get(
        "/contractors",
        params={"page_size": 5, "cursor": first["next_cursor"]},
        headers=auth("homeowner", 0),
    ).json()
    assert first["items"][-1]["id"] < second["items"][0]["id"]
