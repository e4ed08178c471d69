"""Awarding a job: one bid accepted, the others rejected, atomically, even under races."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from starlette.testclient import TestClient

from tests.target_app.conftest import Auth
from tests.target_app.live import LiveServer


def new_job_with_bids(client: TestClient, auth: Auth, bidders: range) -> tuple[int, list[int]]:
    body = {
        "title": "Fix roof leak",
        "description": "Urgent.",
        "category": "roofing",
        "budget": 900,
    }
    job_id = client.post("/jobs", json=body, headers=auth("homeowner", 0)).json()["id"]
    bids = []
    for n in bidders:
        response = client.post(
            f"/jobs/{job_id}/bids", json={"amount": 800 + n}, headers=auth("contractor", n)
        )
        assert response.status_code == 201
        bids.append(response.json()["id"])
    return job_id, bids


def statuses(client: TestClient, auth: Auth, job_id: int) -> dict[int, str]:
    items = client.get(f"/jobs/{job_id}/bids", headers=auth("homeowner", 0)).json()["items"]
    return {bid["id"]: bid["status"] for bid in items}


def test_award_accepts_one_and_rejects_the_rest(client: TestClient, auth: Auth) -> None:
    job_id, bids = new_job_with_bids(client, auth, range(3))
    response = client.post(
        f"/jobs/{job_id}/award", json={"bid_id": bids[1]}, headers=auth("homeowner", 0)
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["awarded_bid_id"]) == ("awarded", bids[1])
    assert statuses(client, auth, job_id) == {
        bids[0]: "rejected",
        bids[1]: "accepted",
        bids[2]: "rejected",
    }
    again = client.post(
        f"/jobs/{job_id}/award", json={"bid_id": bids[0]}, headers=auth("homeowner", 0)
    )
    assert again.status_code == 409


def test_award_checks_owner_and_bid(client: TestClient, auth: Auth) -> None:
    job_id, bids = new_job_with_bids(client, auth, range(2))
    assert (
        client.post(
            f"/jobs/{job_id}/award", json={"bid_id": bids[0]}, headers=auth("homeowner", 1)
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/jobs/{job_id}/award", json={"bid_id": bids[0]}, headers=auth("contractor", 0)
        ).status_code
        == 403
    )
    other_job_bid = 1  # seeded bid on job 1, not on this job
    assert (
        client.post(
            f"/jobs/{job_id}/award", json={"bid_id": other_job_bid}, headers=auth("homeowner", 0)
        ).status_code
        == 404
    )
    client.delete(f"/bids/{bids[1]}", headers=auth("contractor", 1))
    assert (
        client.post(
            f"/jobs/{job_id}/award", json={"bid_id": bids[1]}, headers=auth("homeowner", 0)
        ).status_code
        == 409
    )


def test_concurrent_awards_exactly_one_wins(live_server: LiveServer, auth: Auth) -> None:
    """Eight simultaneous awards of different bids on one job, through a real uvicorn."""
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        body = {
            "title": "Garden design",
            "description": "Big.",
            "category": "landscaping",
            "budget": 5000,
        }
        owner = auth("homeowner", 0)
        job_id = http.post("/jobs", json=body, headers=owner).json()["id"]
        bids = [
            http.post(
                f"/jobs/{job_id}/bids", json={"amount": 4000 + n}, headers=auth("contractor", n)
            ).json()["id"]
            for n in range(8)
        ]

        def award(bid_id: int) -> int:
            return http.post(
                f"/jobs/{job_id}/award", json={"bid_id": bid_id}, headers=owner
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(award, bids))
        assert sorted(codes) == [200] + [409] * 7
        final = http.get(f"/jobs/{job_id}/bids", params={"page_size": 100}, headers=owner).json()[
            "items"
        ]
    assert sorted(b["status"] for b in final) == ["accepted"] + ["rejected"] * 7
    winner = bids[codes.index(200)]
    assert next(b for b in final if b["status"] == "accepted")["id"] == winner
