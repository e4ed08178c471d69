"""Every route declares who may call it, and its OpenAPI entry documents every response code."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from target_app.api.main import api_routes
from target_app.api.routing import access_of
from target_app.main import create_app
from tests.target_app.conftest import make_settings

#: The route templates other packages use as endpoint names (metrics, Locust, the model).
CONTRACT = {
    ("POST", "/auth/login"), ("GET", "/me"), ("GET", "/territories"), ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"), ("POST", "/jobs"), ("PATCH", "/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/award"), ("POST", "/jobs/{job_id}/photos"),
    ("POST", "/jobs/{job_id}/bids"),
    ("GET", "/jobs/{job_id}/bids"), ("GET", "/me/bids"), ("PATCH", "/bids/{bid_id}"),
    ("DELETE", "/bids/{bid_id}"), ("GET", "/threads"), ("POST", "/threads"),
    ("GET", "/threads/{thread_id}/messages"), ("POST", "/threads/{thread_id}/messages"),
    ("GET", "/contractors"), ("GET", "/operator/dashboard"),
    ("GET", "/operator/territories/{territory_id}/metrics"), ("GET", "/health"),
    ("GET", "/health/ready"), ("GET", "/metrics"),
}  # fmt: skip
#: Never rate limited (docs/resilience.md), so never a 429.
EXEMPT = {"/health", "/health/ready", "/metrics"}
#: The writes that take an Idempotency-Key (docs/resilience.md).
IDEMPOTENT = {"/jobs", "/jobs/{job_id}/bids", "/jobs/{job_id}/award",
              "/threads/{thread_id}/messages"}  # fmt: skip


@pytest.fixture
def db_url(shared_db_url: str) -> str:
    """This module's tests only read (or add rows nobody counts): one database per module."""
    return shared_db_url


def test_routes_are_exactly_the_contract() -> None:
    routes = {(method, route.path) for route in api_routes() for method in route.methods or ()}
    assert routes == CONTRACT


@pytest.mark.parametrize("route", api_routes(), ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_every_route_declares_exactly_one_audience(route: object) -> None:
    assert len(access_of(route.endpoint)) == 1  # type: ignore[attr-defined]


def test_openapi_documents_the_error_codes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for method, path in CONTRACT:
        operation = paths[path][method.lower()]
        codes = set(operation["responses"])
        assert "500" in codes, (method, path)
        if path not in {"/health", "/health/ready", "/metrics", "/territories", "/auth/login"}:
            assert {"401"} <= codes, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in codes, (method, path)
        if operation.get("requestBody"):
            assert "413" in codes, (method, path)
        else:
            assert "413" not in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        if path in EXEMPT:
            assert "429" not in codes, (method, path)
        else:  # the rate limiter answers before any route, with its headers
            limited = operation["responses"]["429"]
            assert "application/problem+json" in limited["content"], (method, path)
            assert set(limited["headers"]) == {
                "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
            }, (method, path)  # fmt: skip
        if "503" in codes:
            assert operation["responses"]["503"]["headers"]["Retry-After"]["required"]
        if method == "POST" and path in IDEMPOTENT:
            names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert "Idempotency-Key" in names, path
            assert {"400", "409", "422"} <= codes, path  # bad key, in flight, reused key
    assert set(paths["/operator/dashboard"]["get"]["responses"]) >= {
        "200",
        "401",
        "403",
        "500",
        "503",
    }
    assert set(paths["/jobs/{job_id}/award"]["post"]["responses"]) >= {"200", "403", "404", "409"}
    # An integrity conflict (a deleted account's live token) is a 409 on the creating writes.
    for path in ("/jobs", "/threads", "/threads/{thread_id}/messages"):
        assert "409" in paths[path]["post"]["responses"], path
    problem = paths["/jobs/{job_id}"]["get"]["responses"]["404"]["content"]
    assert "application/problem+json" in problem


def test_the_admin_routes_document_their_codes(db_url: str) -> None:
    settings = make_settings(db_url, admin_token="openapi-admin-token-0123456789")
    paths = create_app(settings).openapi()["paths"]
    admin = [(m, p) for p, item in paths.items() if p.startswith("/admin/") for m in item]
    assert len(admin) == 4
    for method, path in admin:
        codes = set(paths[path][method]["responses"])
        # A wrong token is anonymous to the rate limiter, so even these can answer 429.
        assert {"200", "401", "422", "429", "500"} <= codes, (method, path)
