"""Message threads: only their two participants see or write them."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.target_app.conftest import SMALL_PLAN, Auth


def test_seeded_homeowner_and_contractor_share_a_thread(client: TestClient, auth: Auth) -> None:
    mine = client.get("/threads", headers=auth("homeowner", 0)).json()["items"]
    theirs = client.get("/threads", headers=auth("contractor", 0)).json()["items"]
    shared = {t["id"] for t in mine} & {t["id"] for t in theirs}
    assert shared
    thread_id = min(shared)
    messages = client.get(f"/threads/{thread_id}/messages", headers=auth("contractor", 0)).json()
    assert len(messages["items"]) == SMALL_PLAN.messages_per_thread


def test_post_message_and_read_it_back(client: TestClient, auth: Auth) -> None:
    thread_id = client.get("/threads", headers=auth("homeowner", 0)).json()["items"][0]["id"]
    posted = client.post(
        f"/threads/{thread_id}/messages",
        json={"body": "  When can you start?  "},
        headers=auth("homeowner", 0),
    )
    assert posted.status_code == 201
    assert posted.json()["body"] == "When can you start?"
    newest = client.get(
        f"/threads/{thread_id}/messages", params={"page_size": 1}, headers=auth("homeowner", 0)
    ).json()
    assert newest["items"][0]["id"] == posted.json()["id"]
    assert newest["next_cursor"] is not None
    threads = client.get("/threads", headers=auth("homeowner", 0)).json()["items"]
    assert threads[0]["id"] == thread_id  # most recently active first


def test_outsiders_cannot_read_or_write_a_thread(client: TestClient, auth: Auth) -> None:
    thread_id = client.get("/threads", headers=auth("homeowner", 0)).json()["items"][0]["id"]
    for outsider in (auth("homeowner", 1), auth("contractor", 7)):
        assert client.get(f"/threads/{thread_id}/messages", headers=outsider).status_code == 404
        assert (
            client.post(
                f"/threads/{thread_id}/messages", json={"body": "hi"}, headers=outsider
            ).status_code
            == 404
        )
    assert (
        client.get(f"/threads/{thread_id}/messages", headers=auth("operator", 0)).status_code == 403
    )
    assert client.get("/threads", headers=auth("operator", 0)).status_code == 403


def test_open_thread_from_either_side(client: TestClient, auth: Auth) -> None:
    created = client.post("/threads", json={"job_id": 2}, headers=auth("contractor", 9))
    assert created.status_code == 201
    thread = created.json()
    assert thread["contractor_id"] == SMALL_PLAN.contractor_id(9)
    owner = client.get("/jobs/2", headers=auth("contractor", 9)).json()["homeowner_id"]
    assert thread["homeowner_id"] == owner
    again = client.post("/threads", json={"job_id": 2}, headers=auth("contractor", 9))
    assert (again.status_code, again.json()["id"]) == (200, thread["id"])
    homeowner_n = owner - 1
    by_owner = client.post(
        "/threads",
        json={"job_id": 2, "contractor_id": SMALL_PLAN.contractor_id(9)},
        headers=auth("homeowner", homeowner_n),
    )
    assert (by_owner.status_code, by_owner.json()["id"]) == (200, thread["id"])


def test_open_thread_checks(client: TestClient, auth: Auth) -> None:
    assert (
        client.post("/threads", json={"job_id": 999999}, headers=auth("contractor", 1)).status_code
        == 404
    )
    assert (
        client.post("/threads", json={"job_id": 1}, headers=auth("homeowner", 0)).status_code == 400
    )
    assert (
        client.post(
            "/threads", json={"job_id": 1, "contractor_id": 2}, headers=auth("homeowner", 1)
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/threads", json={"job_id": 1, "contractor_id": 2}, headers=auth("homeowner", 0)
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/threads", json={"job_id": 1, "contractor_id": 99}, headers=auth("contractor", 1)
        ).status_code
        == 403
    )
