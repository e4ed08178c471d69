"""Malformed input of any kind is a 4xx problem, never a 5xx; bodies over 1 MiB are 413."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from target_app.middleware import MAX_BODY_BYTES
from tests.target_app.conftest import Auth

GOOD = {"title": "Paint shed", "description": "Blue.", "category": "painting", "budget": 200}
FUZZ = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def db_url(shared_db_url: str) -> str:
    """This module's tests only read (or add rows nobody counts): one database per module."""
    return shared_db_url


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b"null",
        b'"text"',
        b'{"title": }',
        GOOD.__repr__().encode(),
        b"\xff\xfe",
        b'{"budget": NaN}',
    ],
)
def test_malformed_json_is_422(client: TestClient, auth: Auth, raw: bytes) -> None:
    headers = auth("homeowner", 0) | {"Content-Type": "application/json"}
    response = client.post("/jobs", content=raw, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "change",
    [
        {"title": "a\x00b c"},
        {"title": "\ud800 lone surrogate"},
        {"title": ""},
        {"title": "x" * 201},
        {"budget": -1},
        {"budget": 10**30},
        {"budget": "lots"},
        {"budget": 1.5},
        {"category": "astrology"},
        {"urgent": "maybe"},
        {"description": None},
    ],
)
def test_invalid_fields_are_422(client: TestClient, auth: Auth, change: dict[str, object]) -> None:
    body = json.dumps(GOOD | change)  # json.dumps keeps lone surrogates as \ud800 escapes
    headers = auth("homeowner", 0) | {"Content-Type": "application/json"}
    response = client.post("/jobs", content=body, headers=headers)
    assert response.status_code == 422, response.text


def test_text_content_type_is_422(client: TestClient, auth: Auth) -> None:
    headers = auth("homeowner", 0) | {"Content-Type": "text/plain"}
    assert client.post("/jobs", content=json.dumps(GOOD), headers=headers).status_code == 422


@pytest.mark.parametrize("job_id", ["0", "-3", "abc", "1.5", "99999999999999999999", "2147483648"])
def test_bad_path_ids_are_422(client: TestClient, auth: Auth, job_id: str) -> None:
    assert client.get(f"/jobs/{job_id}", headers=auth("homeowner", 0)).status_code == 422


def test_body_over_1_mib_is_413(client: TestClient, auth: Auth) -> None:
    big = json.dumps(GOOD | {"description": "x" * (MAX_BODY_BYTES + 10)})
    headers = auth("homeowner", 0) | {"Content-Type": "application/json"}
    response = client.post("/jobs", content=big, headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_streamed_body_over_1_mib_is_413(client: TestClient, auth: Auth) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536  # no Content-Length: chunked

    headers = auth("homeowner", 0) | {"Content-Type": "application/json"}
    assert client.post("/jobs", content=chunks(), headers=headers).status_code == 413


def test_body_just_under_the_limit_is_parsed(client: TestClient, auth: Auth) -> None:
    padding = MAX_BODY_BYTES - len(json.dumps(GOOD)) - 40
    body = json.dumps(GOOD)[:-1] + ', "pad": "' + "x" * padding + '"}'
    headers = auth("homeowner", 0) | {"Content-Type": "application/json"}
    assert client.post("/jobs", content=body, headers=headers).status_code == 422  # unknown field


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@FUZZ
@given(body=st.dictionaries(st.sampled_from([*GOOD, "status", "x"]), json_values, max_size=6))
def test_fuzzed_job_bodies_never_5xx(
    client: TestClient, auth: Auth, body: dict[str, object]
) -> None:
    response = client.post("/jobs", json=body, headers=auth("homeowner", 0))
    assert response.status_code in {201, 422}, response.text


query_values = st.text(max_size=30) | st.integers(-(10**20), 10**20).map(str)


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(
            [
                "territory_id",
                "status",
                "category",
                "urgent",
                "min_budget",
                "max_budget",
                "q",
                "mine",
                "page_size",
                "cursor",
            ]
        ),
        query_values,
        max_size=5,
    )
)
def test_fuzzed_job_queries_never_5xx(
    client: TestClient, auth: Auth, query: dict[str, str]
) -> None:
    response = client.get("/jobs", params=query, headers=auth("homeowner", 0))
    assert response.status_code in {200, 400, 422}, response.text


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(["amount", "message", "bid_id", "body", "job_id"]), json_values, max_size=3
    )
)
def test_fuzzed_bodies_on_other_routes_never_5xx(
    client: TestClient, auth: Auth, body: dict[str, object]
) -> None:
    for role, path in [
        ("contractor", "/jobs/1/bids"),
        ("homeowner", "/jobs/1/award"),
        ("contractor", "/threads"),
    ]:
        response = client.post(path, json=body, headers=auth(role, 2))
        assert response.status_code < 500, response.text
