"""A write that got no verdict is logged as an attempt, so the audit can explain its row.

A COMMIT may reach the database while the connection is reset before its acknowledgement (the
chaos-db fault does this): the service answers 503, yet the row exists. Without a log entry the
audit would count it "unexpected" though nothing is wrong, so the journeys log a write that got
no response or a 5xx with ``acknowledged=False``; a 4xx is a definite refusal and is not logged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from journeys.checks import Caller
from journeys.steps import IMPLEMENTATIONS, Journey
from models.catalogue import WriteKind


class Response:
    """What Locust's ``catch_response`` hands the caller, reduced to what Caller uses."""

    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self.content = json.dumps(body).encode() if body is not None else b""
        self.headers: dict[str, str] = {}
        self.outcome: str | None = None

    def failure(self, exc: object) -> None:
        self.outcome = f"failure: {exc}"

    def success(self) -> None:
        self.outcome = "success"


class Client:
    """Answers every request with one status (Locust's client interface, as Caller uses it)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        self.requests: list[tuple[str, str]] = []

    @contextmanager
    def request(self, method: str, url: str, **_: Any) -> Iterator[Response]:
        self.requests.append((method, url))
        yield Response(self.status, self.body)


def _post_job(status: int, body: Any) -> list[tuple[WriteKind, int | None, int | None]]:
    logged: list[tuple[WriteKind, int | None, int | None]] = []
    journey = Journey(
        "homeowner", Caller(Client(status, body), {}), random.Random(1),
        lambda kind, object_id, parent: logged.append((kind, object_id, parent)),
    )  # fmt: skip
    try:
        IMPLEMENTATIONS["homeowner"]["post_job"].perform(journey)
    except Exception as exc:  # the screen stops at the failed call (an internal _Abort)
        assert type(exc).__name__ == "_Abort"
    return logged


@pytest.mark.parametrize("status", [0, 500, 502, 503])
def test_a_write_with_no_verdict_is_logged_as_an_attempt(status: int) -> None:
    assert _post_job(status, None) == [(WriteKind.JOB, None, None)]


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 422, 429])
def test_a_refused_write_is_not_logged(status: int) -> None:
    assert _post_job(status, {"detail": "no"}) == []


def test_an_acknowledged_write_is_logged_with_its_id() -> None:
    assert _post_job(201, {"id": 77, "status": "open"}) == [(WriteKind.JOB, 77, None)]
