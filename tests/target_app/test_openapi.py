"""Every route declares who may call it, and its OpenAPI entry documents every response code."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from target_app.api.main import api_routes
from target_app.api.routing import access_of

#: The route templates other packages use as endpoint names (metrics, Locust, the model).
CONTRACT = {
    ("POST", "/auth/login"), ("GET", "/me"), ("GET", "/territories"), ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"), ("POST", "/jobs"), ("PATCH", "/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/award"), ("POST", "/jobs/{job_id}/bids"),
    ("GET", "/jobs/{job_id}/bids"), ("GET", "/me/bids"), ("PATCH", "/bids/{bid_id}"),
    ("DELETE", "/bids/{bid_id}"), ("GET", "/threads"), ("POST", "/threads"),
    ("GET", "/threads/{thread_id}/messages"), ("POST", "/threads/{thread_id}/messages"),
    ("GET", "/contractors"), ("GET", "/operator/dashboard"),
    ("GET", "/operator/territories/{territory_id}/metrics"), ("GET", "/health"),
    ("GET", "/health/ready"), ("GET", "/metrics"),
}  # fmt: skip


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
    assert set(paths["/operator/dashboard"]["get"]["responses"]) >= {
        "200",
        "401",
        "403",
        "500",
        "503",
    }
    assert set(paths["/jobs/{job_id}/award"]["post"]["responses"]) >= {"200", "403", "404", "409"}
    problem = paths["/jobs/{job_id}"]["get"]["responses"]["404"]["content"]
    assert "application/problem+json" in problem
