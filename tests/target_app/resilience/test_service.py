"""The resilience features inside the real service (``target_app.main.create_app``)."""

from __future__ import annotations

import base64
import time
from collections import Counter

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.testclient import TestClient

from target_app.main import create_app
from target_app.models import IdempotencyRecord, OutboxMessage, PaymentHold
from target_app.resilience.faults import Fault
from target_app.resilience.install import Resilience
from tests.target_app.conftest import Auth, make_settings

JOB = {"title": "Fix roof leak", "description": "Shingles gone.", "category": "roofing",
       "budget": 900}  # fmt: skip


def _resilience(app: FastAPI) -> Resilience:
    resilience: Resilience = app.state.resilience
    return resilience


def _count(app: FastAPI, model: type) -> int:
    with app.state.target_app.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_post_jobs_with_an_idempotency_key(app: FastAPI, client: TestClient, auth: Auth) -> None:
    headers = {**auth("homeowner", 0), "Idempotency-Key": "job-1"}
    first = client.post("/jobs", json=JOB, headers=headers)
    again = client.post("/jobs", json=JOB, headers=headers)
    other = client.post("/jobs", json={**JOB, "budget": 901}, headers=headers)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert other.status_code == 422
    assert _count(app, IdempotencyRecord) == 1


def test_bids_awards_and_messages_notify_through_the_outbox(
    app: FastAPI, client: TestClient, auth: Auth
) -> None:
    resilience = _resilience(app)
    job_id = client.post("/jobs", json=JOB, headers=auth("homeowner", 0)).json()["id"]
    bid = client.post(f"/jobs/{job_id}/bids", json={"amount": 850}, headers=auth("contractor", 1))
    assert bid.status_code == 201
    award = client.post(
        f"/jobs/{job_id}/award", json={"bid_id": bid.json()["id"]}, headers=auth("homeowner", 0)
    )
    assert award.status_code == 200 and award.headers["Payment-Status"] == "held"
    thread = client.post(
        "/threads", json={"job_id": job_id, "contractor_id": bid.json()["contractor_id"]},
        headers=auth("homeowner", 0),
    )  # fmt: skip
    assert thread.status_code in (200, 201)
    message = client.post(
        f"/threads/{thread.json()['id']}/messages", json={"body": "When can you start?"},
        headers={**auth("homeowner", 0), "Idempotency-Key": "msg-1"},
    )  # fmt: skip
    assert message.status_code == 201
    assert _count(app, OutboxMessage) == 6  # bid, award, message; SMS and e-mail each
    deadline = time.monotonic() + 10
    while len(resilience.services.email.delivered) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    texts = sorted(d.text for d in resilience.services.email.delivered.values())
    assert texts[0] == f"New bid of $850 on your job {job_id}."
    assert any(text.startswith("You won job") for text in texts)
    assert len(resilience.services.sms.delivered) == 3


def test_payments_down_the_award_stands_as_pending(
    app: FastAPI, client: TestClient, auth: Auth
) -> None:
    resilience = _resilience(app)
    assert resilience.payments is not None
    job_id = client.post("/jobs", json=JOB, headers=auth("homeowner", 0)).json()["id"]
    bid = client.post(f"/jobs/{job_id}/bids", json={"amount": 800}, headers=auth("contractor", 2))
    resilience.board.set("payments", Fault(error_rate=1.0))
    award = client.post(
        f"/jobs/{job_id}/award", json={"bid_id": bid.json()["id"]}, headers=auth("homeowner", 0)
    )
    assert award.status_code == 200 and award.headers["Payment-Status"] == "pending"
    assert award.json()["status"] == "awarded"
    resilience.board.clear()
    assert client.portal is not None  # the client's event loop, where the app's tasks run
    assert client.portal.call(resilience.payments.settle, job_id) == "held"
    with app.state.target_app.db.read_session() as session:
        hold = session.scalars(select(PaymentHold).where(PaymentHold.job_id == job_id)).one()
    assert hold.status == "held" and hold.attempts == 2


def test_ai_down_jobs_are_categorised_by_the_rules(
    app: FastAPI, client: TestClient, auth: Auth
) -> None:
    _resilience(app).board.set("ai", Fault(error_rate=1.0))
    body = {**JOB, "title": "Paint the fence", "category": "landscaping"}
    created = client.post("/jobs", json=body, headers=auth("homeowner", 0))
    assert created.status_code == 201 and created.json()["category"] == "painting"


def test_the_service_rate_limits_and_exempts_health(db_url: str, auth: Auth) -> None:
    app = create_app(make_settings(db_url, rate_limit_anonymous=5, rate_limit_authenticated=8))
    with TestClient(app) as client:
        anonymous = Counter(client.get("/territories").status_code for _ in range(8))
        user = Counter(
            client.get("/me", headers=auth("homeowner", 3)).status_code for _ in range(10)
        )
        limited = client.get("/territories")
        health = Counter(client.get("/health").status_code for _ in range(20))
        ready = client.get("/health/ready").json()
    assert anonymous == {200: 5, 429: 3} and user == {200: 8, 429: 2}
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert health == {200: 20}
    assert ready["breakers"]["database"]["state"] == "closed"


PHOTO_BYTES = b"\xff\xd8\xff\xe0 a tiny jpeg"
PHOTO = {"filename": "roof.jpg", "content_base64": base64.b64encode(PHOTO_BYTES).decode()}


def test_job_photos_go_to_storage_and_storage_down_is_503(
    app: FastAPI, client: TestClient, auth: Auth
) -> None:
    resilience = _resilience(app)
    owner = auth("homeowner", 0)
    job_id = client.post("/jobs", json=JOB, headers=owner).json()["id"]
    path = f"/jobs/{job_id}/photos"
    stored = client.post(path, json=PHOTO, headers=owner)
    assert stored.status_code == 201, stored.text
    url = f"https://storage.invalid/jobs/{job_id}/roof.jpg"
    assert stored.json() == {"job_id": job_id, "filename": "roof.jpg", "url": url,
                             "size": len(PHOTO_BYTES)}  # fmt: skip
    assert stored.headers["Location"] == url
    assert resilience.services.storage.objects[f"jobs/{job_id}/roof.jpg"] == PHOTO_BYTES
    # Only the job's owner; bad input is 422 and never reaches storage.
    assert client.post(path, json=PHOTO, headers=auth("homeowner", 1)).status_code == 403
    assert client.post("/jobs/999999/photos", json=PHOTO, headers=owner).status_code == 404
    calls = resilience.services.storage.calls
    for bad in ({"content_base64": "not base64!"}, {"filename": "../etc/passwd"},
                {"filename": "roof.exe"}, {"content_base64": "===="}):  # fmt: skip
        assert client.post(path, json={**PHOTO, **bad}, headers=owner).status_code == 422, bad
    assert resilience.services.storage.calls == calls

    # Storage down: 503 + Retry-After; five failures open its breaker, after which storage
    # is not called at all until the reset time.
    resilience.board.set("storage", Fault(error_rate=1.0))
    down = [client.post(path, json=PHOTO, headers=owner) for _ in range(7)]
    assert [r.status_code for r in down] == [503] * 7
    assert all(r.headers["content-type"] == "application/problem+json" for r in down)
    assert down[0].headers["Retry-After"] == "1" and "injected" in down[0].json()["detail"]
    assert "circuit open" in down[-1].json()["detail"]
    assert down[-1].headers["Retry-After"] == "30"
    assert resilience.services.storage.calls == calls + 5
