"""Bids: one active per contractor and job, private to their contractor, owner and operators."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.target_app.conftest import SMALL_PLAN, Auth


def open_job_without_bid_from(client: TestClient, auth: Auth, contractor: int) -> int:
    """A new open job (posted by homeowner 0) that ``contractor`` has not bid on."""
    body = {"title": "Paint fence", "description": "White.", "category": "painting", "budget": 300}
    response = client.post("/jobs", json=body, headers=auth("homeowner", 0))
    assert response.status_code == 201
    job_id: int = response.json()["id"]
    return job_id


def test_bid_then_second_active_bid_is_409(client: TestClient, auth: Auth) -> None:
    job_id = open_job_without_bid_from(client, auth, 4)
    headers = auth("contractor", 4)
    first = client.post(
        f"/jobs/{job_id}/bids", json={"amount": 250, "message": "Hi"}, headers=headers
    )
    assert first.status_code == 201
    bid = first.json()
    assert (bid["status"], bid["contractor_id"]) == ("active", SMALL_PLAN.contractor_id(4))
    again = client.post(f"/jobs/{job_id}/bids", json={"amount": 200}, headers=headers)
    assert again.status_code == 409
    # After withdrawing, a new bid is allowed again.
    assert client.delete(f"/bids/{bid['id']}", headers=headers).json()["status"] == "withdrawn"
    assert (
        client.post(f"/jobs/{job_id}/bids", json={"amount": 200}, headers=headers).status_code
        == 201
    )


@pytest.mark.parametrize("role", ["homeowner", "operator"])
def test_only_contractors_bid(client: TestClient, auth: Auth, role: str) -> None:
    assert client.post("/jobs/1/bids", json={"amount": 1}, headers=auth(role, 0)).status_code == 403


def test_bid_on_missing_or_closed_job(client: TestClient, auth: Auth) -> None:
    headers = auth("contractor", 1)
    assert client.post("/jobs/999999/bids", json={"amount": 1}, headers=headers).status_code == 404
    closed = SMALL_PLAN.jobs  # the oldest job is closed or awarded
    assert (
        client.post(f"/jobs/{closed}/bids", json={"amount": 1}, headers=headers).status_code == 409
    )


def test_job_bids_for_owner_and_operator_only(client: TestClient, auth: Auth) -> None:
    assert len(client.get("/jobs/1/bids", headers=auth("homeowner", 0)).json()["items"]) == 3
    assert client.get("/jobs/1/bids", headers=auth("operator", 0)).status_code == 200
    assert client.get("/jobs/1/bids", headers=auth("homeowner", 1)).status_code == 403
    assert client.get("/jobs/1/bids", headers=auth("contractor", 0)).status_code == 403
    assert client.get("/jobs/999999/bids", headers=auth("operator", 0)).status_code == 404


def test_my_bids(client: TestClient, auth: Auth) -> None:
    body = client.get("/me/bids", headers=auth("contractor", 0)).json()
    assert body["items"]
    assert {b["contractor_id"] for b in body["items"]} == {SMALL_PLAN.contractor_id(0)}
    active = client.get("/me/bids", params={"status": "active"}, headers=auth("contractor", 0))
    assert {b["status"] for b in active.json()["items"]} <= {"active"}
    assert client.get("/me/bids", headers=auth("homeowner", 0)).status_code == 403


def test_update_own_bid(client: TestClient, auth: Auth) -> None:
    bid = client.get("/me/bids", params={"status": "active"}, headers=auth("contractor", 0)).json()[
        "items"
    ][0]
    response = client.patch(
        f"/bids/{bid['id']}", json={"amount": 123}, headers=auth("contractor", 0)
    )
    assert response.status_code == 200 and response.json()["amount"] == 123


def test_another_contractors_bid_is_invisible(client: TestClient, auth: Auth) -> None:
    bid = client.get("/me/bids", params={"status": "active"}, headers=auth("contractor", 0)).json()[
        "items"
    ][0]
    other = auth("contractor", 1)
    assert client.patch(f"/bids/{bid['id']}", json={"amount": 1}, headers=other).status_code == 404
    assert client.delete(f"/bids/{bid['id']}", headers=other).status_code == 404
    assert client.delete(f"/bids/{bid['id']}", headers=auth("homeowner", 0)).status_code == 403
    assert client.delete("/bids/999999", headers=other).status_code == 404


def test_withdrawn_bid_cannot_change(client: TestClient, auth: Auth) -> None:
    headers = auth("contractor", 0)
    bid = client.get("/me/bids", params={"status": "active"}, headers=headers).json()["items"][0]
    assert client.delete(f"/bids/{bid['id']}", headers=headers).status_code == 200
    assert client.delete(f"/bids/{bid['id']}", headers=headers).status_code == 409
    assert (
        client.patch(f"/bids/{bid['id']}", json={"amount": 5}, headers=headers).status_code == 409
    )
