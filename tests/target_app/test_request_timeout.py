"""``REQUEST_TIMEOUT_S`` (``middleware/timeout.py``): a request past its deadline is answered
503 + ``Retry-After`` with a problem body at the deadline, and counted; the others pass."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from target_app.main import create_app
from target_app.seed import seed_database
from tests.target_app.conftest import SMALL_PLAN, make_settings
from tests.target_app.lab.conftest import bearer, counter

#: The AI fake answers a new job after this long: far past the deadline below.
SLOW_AI_MS = 3000
DEADLINE_S = 0.3
JOB = {"title": "Hang a heavy mirror", "description": "Brick wall.", "category": "carpentry",
       "budget": 80}  # fmt: skip


def test_a_request_past_its_deadline_gets_503_at_the_deadline_and_is_counted(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'marketplace.db'}"
    seed_database(url, SMALL_PLAN)
    settings = make_settings(
        url,
        request_timeout_s=DEADLINE_S,
        fake_latency_ms=f"ai={SLOW_AI_MS}",
        rate_limit_enabled=False,
        resilience_workers=False,
    )
    app = create_app(settings)
    owner = bearer(app, "homeowner", 0)
    with TestClient(app) as client:
        started = time.monotonic()
        late = client.post("/jobs", json=JOB, headers=owner)
        elapsed = time.monotonic() - started
        assert late.status_code == 503
        assert late.headers["Retry-After"] == "1"
        assert late.headers["content-type"] == "application/problem+json"
        assert late.json()["detail"] == "The request took longer than 0.3 s; retry shortly."
        assert late.json()["instance"] == "/jobs"
        assert elapsed < SLOW_AI_MS / 1000 / 2, elapsed  # answered at the deadline, not after
        assert client.get("/jobs?territory_id=1", headers=owner).status_code == 200
        assert counter(client, "http_requests", route="/jobs", method="POST", status="503") == 1
        assert counter(client, "http_requests", route="/jobs", method="GET", status="200") == 1
        assert client.get("/health/ready").status_code == 200


def test_without_a_deadline_a_slow_request_waits_for_its_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'marketplace.db'}"
    seed_database(url, SMALL_PLAN)
    settings = make_settings(url, fake_latency_ms="ai=400", resilience_workers=False)
    app = create_app(settings)
    with TestClient(app) as client:
        assert (
            client.post("/jobs", json=JOB, headers=bearer(app, "homeowner", 0)).status_code == 201
        )
