"""The job board: filters, search, keyset pages, posting, editing."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.target_app.conftest import SMALL_PLAN, Auth

NEW_JOB = {
    "title": "Replace kitchen faucet",
    "description": "The old one drips.",
    "category": "plumbing",
    "budget": 400,
}


def all_pages(client: TestClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        params = dict(query, **({"cursor": cursor} if cursor else {}))
        body = client.get("/jobs", params=params, headers=headers).json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_list_defaults_to_open_jobs_newest_first(client: TestClient, auth: Auth) -> None:
    body = client.get("/jobs", headers=auth("contractor", 1)).json()
    assert 0 < len(body["items"]) <= 20
    assert {job["status"] for job in body["items"]} == {"open"}
    created = [job["created_at"] for job in body["items"]]
    assert created == sorted(created, reverse=True)


def test_keyset_pages_cover_everything_once(client: TestClient, auth: Auth) -> None:
    headers = auth("contractor", 1)
    jobs = all_pages(client, headers, status="awarded", page_size=3)
    ids = [job["id"] for job in jobs]
    assert len(ids) == len(set(ids))
    whole = client.get("/jobs", params={"status": "awarded", "page_size": 100}, headers=headers)
    assert ids == [job["id"] for job in whole.json()["items"]]


@pytest.mark.parametrize("page_size", [0, -1, 101, "ten"])
def test_page_size_out_of_bounds_is_422(client: TestClient, auth: Auth, page_size: object) -> None:
    response = client.get("/jobs", params={"page_size": page_size}, headers=auth("homeowner", 0))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "page_size"]


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJub3QgYSBkYXRlIiwgMV0", "x" * 201])
def test_invalid_cursor_is_4xx(client: TestClient, auth: Auth, cursor: str) -> None:
    response = client.get("/jobs", params={"cursor": cursor}, headers=auth("homeowner", 0))
    assert response.status_code in {400, 422}


def test_filters(client: TestClient, auth: Auth) -> None:
    headers = auth("contractor", 2)
    jobs = all_pages(
        client, headers, territory_id=2, category="plumbing", min_budget=0, max_budget=20_000
    )
    assert all(j["territory_id"] == 2 and j["category"] == "plumbing" for j in jobs)
    urgent = all_pages(client, headers, urgent=True)
    assert urgent and all(j["urgent"] for j in urgent)
    cheap = all_pages(client, headers, max_budget=5_000)
    assert all(j["budget"] <= 5_000 for j in cheap)


def test_min_budget_above_max_is_400(client: TestClient, auth: Auth) -> None:
    params = {"min_budget": 10, "max_budget": 5}
    assert client.get("/jobs", params=params, headers=auth("homeowner", 0)).status_code == 400


def test_full_text_search(client: TestClient, auth: Auth) -> None:
    headers = auth("homeowner", 0)
    created = client.post(
        "/jobs", json=NEW_JOB | {"title": "Xylophone room soundproofing"}, headers=headers
    )
    assert created.status_code == 201
    found = client.get("/jobs", params={"q": "xylophone"}, headers=headers).json()["items"]
    assert [job["id"] for job in found] == [created.json()["id"]]
    # Search syntax characters are not operators: no 5xx, just words.
    for q in ['"', "a OR", "NEAR(", "title:x*", "-)(*"]:
        expected = 200 if any(c.isalnum() for c in q) else 422  # no word at all: invalid
        assert client.get("/jobs", params={"q": q}, headers=headers).status_code == expected


def test_mine_lists_own_jobs_of_any_status(client: TestClient, auth: Auth) -> None:
    jobs = all_pages(client, auth("homeowner", 0), mine=True)
    assert jobs and all(j["homeowner_id"] == SMALL_PLAN.homeowner_id(0) for j in jobs)
    assert (
        client.get("/jobs", params={"mine": True}, headers=auth("contractor", 0)).status_code == 403
    )


def test_listed_bid_counts_leave_out_withdrawn_bids(client: TestClient, auth: Auth) -> None:
    """The count the board shows per job (one statement with the page, api/job_search.py)
    agrees with the job's own page, and a withdrawn bid no longer counts."""
    owner = auth("homeowner", 0)
    job_id = client.post("/jobs", json=NEW_JOB, headers=owner).json()["id"]
    bids = [
        client.post(f"/jobs/{job_id}/bids", json={"amount": 300 + n}, headers=auth("contractor", n))
        for n in range(3)
    ]
    assert [bid.status_code for bid in bids] == [201, 201, 201]
    withdrawn = client.delete(f"/bids/{bids[0].json()['id']}", headers=auth("contractor", 0))
    assert withdrawn.status_code == 200
    for query in ({"mine": True}, {"category": "plumbing"}):
        listed = client.get("/jobs", params=query, headers=owner).json()["items"]
        assert [job["bid_count"] for job in listed if job["id"] == job_id] == [2], query
    assert client.get(f"/jobs/{job_id}", headers=owner).json()["bid_count"] == 2


def test_get_job(client: TestClient, auth: Auth) -> None:
    body = client.get("/jobs/1", headers=auth("contractor", 0)).json()
    assert body["id"] == 1 and body["bid_count"] == SMALL_PLAN.bids_per_job
    assert "description" in body
    assert client.get("/jobs/999999", headers=auth("contractor", 0)).status_code == 404


def test_create_job(client: TestClient, auth: Auth) -> None:
    response = client.post("/jobs", json=NEW_JOB, headers=auth("homeowner", 5))
    assert response.status_code == 201
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "open"
    assert job["homeowner_id"] == SMALL_PLAN.homeowner_id(5)
    assert job["territory_id"] == SMALL_PLAN.territory_of(5)


@pytest.mark.parametrize("role", ["contractor", "operator"])
def test_only_homeowners_post_jobs(client: TestClient, auth: Auth, role: str) -> None:
    assert client.post("/jobs", json=NEW_JOB, headers=auth(role, 0)).status_code == 403


@pytest.mark.parametrize(
    "extra", [{"status": "awarded"}, {"homeowner_id": 2}, {"territory_id": 3}, {"id": 1}]
)
def test_mass_assignment_is_refused(
    client: TestClient, auth: Auth, extra: dict[str, object]
) -> None:
    response = client.post("/jobs", json=NEW_JOB | extra, headers=auth("homeowner", 0))
    assert response.status_code == 422


def test_owner_edits_and_closes_job(client: TestClient, auth: Auth) -> None:
    headers = auth("homeowner", 0)
    patched = client.patch("/jobs/1", json={"budget": 999, "urgent": False}, headers=headers)
    assert patched.status_code == 200
    assert (patched.json()["budget"], patched.json()["urgent"]) == (999, False)
    closed = client.patch("/jobs/1", json={"status": "closed"}, headers=headers)
    assert closed.json()["status"] == "closed"
    bids = client.get("/jobs/1/bids", headers=headers).json()["items"]
    assert "active" not in {b["status"] for b in bids}
    assert client.patch("/jobs/1", json={"budget": 1}, headers=headers).status_code == 409


def test_another_homeowners_job_cannot_be_edited(client: TestClient, auth: Auth) -> None:
    response = client.patch("/jobs/1", json={"budget": 1}, headers=auth("homeowner", 1))
    assert response.status_code == 403
    assert (
        client.patch(
            "/jobs/1", json={"status": "awarded"}, headers=auth("homeowner", 0)
        ).status_code
        == 422
    )
