"""The authorization matrix: every route of the app x every kind of caller, on both backends.

Each route is tried by seven callers against objects made fresh for it: a job of ``owner``
with an active bid of ``bidder``, the thread between the two and a message in it. The other
callers are another homeowner (``other_owner``), a pro contractor with no part in the job
(``pro``), an operator, nobody (``anonymous``) and the holder of ``ADMIN_TOKEN`` (``admin``,
whose token is no user's token).

The expected status of every cell is written out below, from docs/api.md, so a change in who
may do what shows up as a one-cell diff. The denial rules the table encodes:

* no token, or a token that is not a user's (the admin token on a user route): **401**;
* the wrong role for the route (a contractor posting a job, a homeowner reading the operator
  dashboard): **403**;
* another homeowner's job (edit, award, read its bids): **403** (jobs are public, so 404
  would hide nothing);
* another contractor's bid, a thread you are not in: **404** (their existence is private);
* a method the path does not have: **405** with ``Allow`` naming every method it has.

Every refused request leaves the database exactly as it was (row counts and a checksum of
every table). The route list is read from ``app.routes`` at run time: a route without an
access rule, or without a row here, fails.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from target_app.api.routing import access_of
from tests.security.conftest import (
    ACTORS,
    NEW_JOB,
    Actors,
    World,
    build_app,
    make_world,
    record_outcome,
    table_fingerprint,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

#: FastAPI's own documentation routes: public by `FastAPI(docs_url=..., openapi_url=...)`.
FRAMEWORK_PUBLIC = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PASSWORD = "launch-day-password"


Body = Callable[[World], dict[str, Any]] | None


#                                                  anon owner bidder pro oper other admin
MATRIX: dict[tuple[str, str], tuple[tuple[int, ...], Body]] = {
    ("POST", "/auth/login"): (
        (200, 200, 200, 200, 200, 200, 200),
        lambda w: {"email": "homeowner3@seed.example", "password": PASSWORD},
    ),
    ("GET", "/me"): ((401, 200, 200, 200, 200, 200, 401), None),
    ("GET", "/territories"): ((200, 200, 200, 200, 200, 200, 200), None),
    ("GET", "/jobs"): ((401, 200, 200, 200, 200, 200, 401), None),
    ("GET", "/jobs/{job_id}"): ((401, 200, 200, 200, 200, 200, 401), None),
    ("POST", "/jobs"): (
        (401, 201, 403, 403, 403, 201, 401),
        lambda w: NEW_JOB,
    ),
    ("PATCH", "/jobs/{job_id}"): ((401, 200, 403, 403, 403, 403, 401), lambda w: {"budget": 1}),
    ("POST", "/jobs/{job_id}/award"): (
        (401, 200, 403, 403, 403, 403, 401),
        lambda w: {"bid_id": w.bid_id},
    ),
    ("POST", "/jobs/{job_id}/photos"): (
        (401, 201, 403, 403, 403, 403, 401),
        lambda w: {"filename": "roof.jpg", "content_base64": "anBlZw=="},
    ),
    ("POST", "/jobs/{job_id}/bids"): (
        (401, 403, 409, 201, 403, 403, 401),
        lambda w: {"amount": 420, "message": "Can start Monday."},
    ),
    ("GET", "/jobs/{job_id}/bids"): ((401, 200, 403, 403, 200, 403, 401), None),
    ("GET", "/me/bids"): ((401, 403, 200, 200, 403, 403, 401), None),
    ("PATCH", "/bids/{bid_id}"): ((401, 403, 200, 404, 403, 403, 401), lambda w: {"amount": 1}),
    ("DELETE", "/bids/{bid_id}"): ((401, 403, 200, 404, 403, 403, 401), None),
    ("GET", "/threads"): ((401, 200, 200, 200, 403, 200, 401), None),
    ("POST", "/threads"): (
        (401, 200, 200, 403, 403, 403, 401),
        lambda w: {"job_id": w.job_id, "contractor_id": w.bidder_id},
    ),
    ("GET", "/threads/{thread_id}/messages"): ((401, 200, 200, 404, 403, 404, 401), None),
    ("POST", "/threads/{thread_id}/messages"): (
        (401, 201, 201, 404, 403, 404, 401),
        lambda w: {"body": "Any news?"},
    ),
    ("GET", "/contractors"): ((401, 200, 200, 200, 200, 200, 401), None),
    ("GET", "/operator/dashboard"): ((401, 403, 403, 403, 200, 403, 401), None),
    ("GET", "/operator/territories/{territory_id}/metrics"): (
        (401, 403, 403, 403, 200, 403, 401),
        None,
    ),
    ("GET", "/health"): ((200, 200, 200, 200, 200, 200, 200), None),
    ("GET", "/health/ready"): ((200, 200, 200, 200, 200, 200, 200), None),
    ("GET", "/metrics"): ((401, 401, 401, 401, 401, 401, 200), None),
    # Fault injection, mounted only with ADMIN_TOKEN: the admin token alone.
    ("GET", "/admin/faults"): ((401, 401, 401, 401, 401, 401, 200), None),
    ("DELETE", "/admin/faults"): ((401, 401, 401, 401, 401, 401, 200), None),
    ("PUT", "/admin/faults/{dependency}"): (
        (401, 401, 401, 401, 401, 401, 200),
        lambda w: {"latency_s": 0.0},
    ),
    ("DELETE", "/admin/faults/{dependency}"): ((401, 401, 401, 401, 401, 401, 200), None),
    # FastAPI's documentation: public.
    ("GET", "/openapi.json"): ((200, 200, 200, 200, 200, 200, 200), None),
    ("GET", "/docs"): ((200, 200, 200, 200, 200, 200, 200), None),
    ("GET", "/docs/oauth2-redirect"): ((200, 200, 200, 200, 200, 200, 200), None),
    ("GET", "/redoc"): ((200, 200, 200, 200, 200, 200, 200), None),
}


def access_rule(route: BaseRoute) -> str | None:
    """The access rule ``route`` declares, as text; None when it declares none.

    An API route declares one `Access` dependency in its endpoint's signature, or (the admin
    routes) a guard among the route's dependencies; FastAPI's documentation routes are public
    by construction.
    """
    if isinstance(route, APIRoute):
        declared = [repr(access) for access in access_of(route.endpoint)]
        declared += [
            type(dep.dependency).__name__
            for dep in route.dependencies
            if dep.dependency is not None and type(dep.dependency).__name__.endswith("Guard")
        ]
        return " + ".join(declared) if len(declared) == 1 else None
    if isinstance(route, Route) and route.path in FRAMEWORK_PUBLIC:
        return "public documentation"
    return None


def routes_of(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, HEAD excluded (Starlette adds it to GET routes)."""
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD"
    )


def _route_app() -> FastAPI:
    return build_app("sqlite://")


ROUTES = routes_of(_route_app())


def test_every_route_declares_an_access_rule_and_has_a_matrix_row() -> None:
    app = _route_app()
    undeclared = [
        getattr(route, "path", route) for route in app.routes if access_rule(route) is None
    ]
    assert undeclared == [], f"routes without an access rule: {undeclared}"
    missing = [route for route in routes_of(app) if route not in MATRIX]
    assert missing == [], f"routes without a row in MATRIX: {missing}"


def test_a_route_without_an_access_rule_is_caught() -> None:
    app = _route_app()

    @app.get("/leak")
    def leak() -> dict[str, str]:
        return {"secret": "everyone sees this"}

    assert access_rule(app.routes[-1]) is None


def _denied_first(expected: dict[str, int]) -> list[str]:
    # Refusals first, on the untouched world; then the allowed calls, which change it.
    return sorted(ACTORS, key=lambda actor: (expected[actor] < 400, ACTORS.index(actor)))


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_access_matrix(
    method: str,
    template: str,
    security_app: FastAPI,
    security_client: TestClient,
    actors: Actors,
    backend: str,
) -> None:
    codes, body = MATRIX[(method, template)]
    expected = dict(zip(ACTORS, codes, strict=True))
    world = make_world(security_client, actors)
    engine = security_app.state.target_app.db.engine
    path = world.path(template)
    failures = []
    for actor in _denied_first(expected):
        before = table_fingerprint(engine) if expected[actor] >= 400 else None
        response = security_client.request(
            method, path, json=body(world) if body else None, headers=actors(actor)
        )
        record_outcome(
            "authorization", f"{method} {template} as {actor}", expected[actor],
            response.status_code, backend,
        )  # fmt: skip
        if response.status_code != expected[actor]:
            failures.append(f"{actor}: {response.status_code} != {expected[actor]} {response.text}")
        if before is not None and table_fingerprint(engine) != before:
            failures.append(f"{actor}: refused with {response.status_code} but the data changed")
    assert failures == [], f"{method} {template}\n" + "\n".join(failures)


PATHS = sorted({template for _, template in ROUTES})


@pytest.mark.parametrize("template", PATHS)
def test_switching_methods_is_405_and_changes_nothing(
    template: str,
    security_app: FastAPI,
    security_client: TestClient,
    actors: Actors,
    backend: str,
) -> None:
    allowed = {method for method, path in ROUTES if path == template}
    world = make_world(security_client, actors)
    engine = security_app.state.target_app.db.engine
    before = table_fingerprint(engine)
    for method in sorted(set(METHODS) - allowed):
        for actor in ("anonymous", "owner", "operator", "admin"):
            response = security_client.request(
                method, world.path(template), json={"status": "closed"}, headers=actors(actor)
            )
            record_outcome(
                "method switching", f"{method} {template} as {actor}", 405,
                response.status_code, backend,
            )  # fmt: skip
            assert response.status_code == 405, (method, template, actor, response.text)
            listed = {m.strip() for m in response.headers["allow"].split(",")} - {"HEAD"}
            assert listed == allowed, (method, template, listed)
    assert table_fingerprint(engine) == before


def test_lists_show_nobody_elses_objects(security_client: TestClient, actors: Actors) -> None:
    world = make_world(security_client, actors)

    def ids(path: str, actor: str, **params: object) -> set[int]:
        response = security_client.get(path, params=params, headers=actors(actor))
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert world.bid_id in ids("/me/bids", "bidder", page_size=100)
    assert world.bid_id not in ids("/me/bids", "pro", page_size=100)
    assert world.thread_id in ids("/threads", "owner", page_size=100)
    for outsider in ("pro", "other_owner"):
        assert world.thread_id not in ids("/threads", outsider, page_size=100)
    assert world.job_id in ids("/jobs", "owner", mine="true", page_size=100)
    assert world.job_id not in ids("/jobs", "other_owner", mine="true", page_size=100)
