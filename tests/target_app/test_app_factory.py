"""Choices `create_app` makes for every request: which routes are tried first, and whether
FastAPI's native OpenTelemetry looks up its providers (``OTEL_TELEMETRY``)."""

from __future__ import annotations

from pathlib import Path

import opentelemetry.trace
import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from target_app.api.main import api_routes
from target_app.main import create_app
from tests.target_app.conftest import make_settings


def test_the_api_is_matched_before_the_documentation_pages(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'm.db'}"))
    paths = [getattr(route, "path", None) for route in app.router.routes]
    api = [route.path for route in api_routes()]
    assert paths[: len(api)] == api
    assert {"/openapi.json", "/docs", "/redoc"} <= set(paths[len(api) :])
    assert all(isinstance(route, APIRoute) for route in app.router.routes[: len(api)])
    with TestClient(app) as client:  # the pages still answer
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(("enabled", "looked_up"), [(False, False), (True, True)])
def test_otel_telemetry_decides_whether_requests_look_up_the_tracer_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool, looked_up: bool
) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'm.db'}", otel_telemetry=enabled))
    calls: list[None] = []
    original = opentelemetry.trace.get_tracer_provider

    def counting() -> opentelemetry.trace.TracerProvider:
        calls.append(None)
        return original()

    with TestClient(app) as client:
        monkeypatch.setattr(opentelemetry.trace, "get_tracer_provider", counting)
        assert client.get("/health").status_code == 200
    assert bool(calls) is looked_up


def test_every_resilience_setting_comes_from_the_settings_given(tmp_path: Path) -> None:
    # No os.environ involved: the one Settings configures the limiter, breakers and fault API.
    settings = make_settings(
        f"sqlite:///{tmp_path / 'm.db'}",
        rate_limit_anonymous=2,
        breaker_ai="2/5/7",
        breaker_half_open_calls=1,
        admin_token="factory-admin-token-0123456789",
    )
    app = create_app(settings)
    ai = app.state.target_app.resilience.breakers["ai"].policy
    assert (ai.failures, ai.timeout_s, ai.reset_s, ai.half_open_calls) == (2, 5, 7, 1)
    with TestClient(app) as client:
        statuses = [client.get("/territories").status_code for _ in range(3)]
        faults = client.get(
            "/admin/faults", headers={"Authorization": "Bearer factory-admin-token-0123456789"}
        )
    assert statuses == [200, 200, 429]
    assert faults.status_code == 200
