"""Schemathesis against the service's own OpenAPI document, in process, as every kind of caller.

Every operation of ``/openapi.json`` is fuzzed as nobody, a homeowner, a contractor and an
operator, with data that fits the schema (``positive``) and data that breaks it
(``negative``: wrong types, out-of-range numbers, missing fields, unknown fields, broken
bodies, missing credentials). The role's real token replaces the placeholder schemathesis
generates for the bearer scheme (anonymous callers send the placeholder: a garbage token).
Each response must:

* not be a 5xx (``not_a_server_error``);
* have a status, content type, headers and body the document declares for the operation
  (``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``);
* reject the negative data with a 4xx (``negative_data_rejection``).

Generation is derandomized (Hypothesis ``derandomize=True``: the same examples on every run)
and bounded (`EXAMPLES` per operation, role and mode), which keeps the module at about 15 s on
the 2-core test machine. Unsupported methods (405) are checked route by route in
test_authorization_matrix.py, where the ids point at real objects.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from target_app.seed import seed_database
from tests.security.conftest import ACCOUNTS, build_app, make_actors, record_outcome
from tests.target_app.conftest import SMALL_PLAN

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette asks for httpx2; plain httpx works
    from starlette.testclient import TestClient

EXAMPLES = 8
ROLES = {"anonymous": "anonymous", "homeowner": "owner", "contractor": "bidder",
         "operator": "operator"}  # fmt: skip
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,  # nothing persisted between runs: the examples depend on the code alone
    suppress_health_check=list(HealthCheck),
)


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes input) of every operation in the document."""
    spec = build_app("sqlite://").openapi()
    return sorted(
        (method.upper(), path, bool(op.get("parameters") or op.get("requestBody")))
        for path, item in spec["paths"].items()
        for method, op in item.items()
    )


OPERATIONS = _operations()
CASES = [
    pytest.param(method, path, role, mode, id=f"{method} {path} {role} {mode}")
    for method, path, takes_input in OPERATIONS
    for role in ROLES
    # An operation without parameters or body has nothing to negate.
    for mode in (("positive", "negative") if takes_input else ("positive",))
]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The service on its own seeded SQLite database (fuzzing writes junk into it)."""
    path: Path = tmp_path_factory.mktemp("fuzz") / "marketplace.db"
    url = f"sqlite:///{path}"
    seed_database(url, SMALL_PLAN)
    yield build_app(url)
    asgi.shutdown_lifespans()  # schemathesis ran the app's lifespan; end it with the module


@pytest.fixture(scope="module")
def schema(fuzz_app: FastAPI) -> Any:
    """The OpenAPI document as schemathesis loads it from the app itself."""
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def test_every_operation_is_fuzzed() -> None:
    assert len({(m, p) for m, p, _ in OPERATIONS}) >= 23
    assert set(ROLES.values()) <= {*ACCOUNTS, "anonymous"}


@pytest.mark.parametrize(("method", "path", "role", "mode"), CASES)
def test_fuzz_operation(
    method: str, path: str, role: str, mode: str, fuzz_app: FastAPI, schema: Any
) -> None:
    operation = schema[path][method]
    headers = make_actors(fuzz_app)(ROLES[role])
    statuses: collections.Counter[int] = collections.Counter()

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def fuzz(case: Any) -> None:
        # The role's real token replaces the generated one; a case that leaves the token out
        # on purpose (negative mode: "missing credentials") goes without.
        sent = headers if "Authorization" in (case.headers or {}) else {}
        response = case.call(headers=sent)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=sent)

    try:
        fuzz()
    finally:
        happened = ", ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))
        server_errors = sum(n for code, n in statuses.items() if code >= 500)
        record_outcome(
            "fuzzing", f"{method} {path} as {role}, {mode}", "no 5xx",
            "no 5xx" if server_errors == 0 else f"{server_errors} 5xx", "sqlite",
            requests=sum(statuses.values()), detail=happened,
        )  # fmt: skip
    assert sum(statuses.values()) > 0


def test_openapi_documents_what_the_fuzzer_found(fuzz_app: FastAPI) -> None:
    """Regressions: each of these was an undocumented response the fuzzer reported."""
    paths = fuzz_app.openapi()["paths"]
    # POST /auth/login answered 401 for wrong credentials without documenting it.
    assert "401" in paths["/auth/login"]["post"]["responses"]
    # A body that is not UTF-8 is FastAPI's 400 "error parsing the body" on every body route.
    for path, method in [
        ("/jobs", "post"),
        ("/jobs/{job_id}", "patch"),
        ("/threads", "post"),
        ("/threads/{thread_id}/messages", "post"),
        ("/auth/login", "post"),
    ]:
        assert "400" in paths[path][method]["responses"], (method, path)
    # Public routes declared the bearer token as required; it is optional there.
    for path in ["/health", "/health/ready", "/territories", "/metrics", "/auth/login"]:
        (operation,) = paths[path].values()
        assert {} in operation["security"], path
    assert {} not in paths["/jobs"]["get"]["security"]


def test_a_body_that_is_not_utf8_is_a_documented_400(fuzz_app: FastAPI) -> None:
    headers = make_actors(fuzz_app)("owner") | {"Content-Type": "application/json"}
    with TestClient(fuzz_app) as client:
        response = client.post("/jobs", content=b'{"title": "\xff\xfe\xfd"}', headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
