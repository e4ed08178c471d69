"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the service returns has the same shape::

    {"type": "about:blank", "title": "Conflict", "status": 409,
     "detail": "contractor 7 already has an active bid on job 3", "instance": "/jobs/3/bids"}

Validation errors add ``errors`` (pydantic's list, without the input values echoed back).

The service's own errors (``core/errors.py``, all under ``ServiceError``) are answered with
their ``status``, ``detail`` and ``headers``; one whose status is 500 only with "Internal
error.", and logged.

Database failures are translated here too: a pool acquire timeout or a lost database is a 503
with ``Retry-After`` (the client should back off and retry), never a 500 and never a hang; an
integrity violation (a referenced row gone, a duplicate) is a 409.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from target_app.core.errors import RETRY_AFTER_S, ServiceError

logger = logging.getLogger("target_app")

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_response(
    status: int,
    detail: str | None,
    instance: str | None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(title=title, status=status, detail=detail, instance=instance, **extra)
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if exc.status == 500:
        # A setting, the schema or a token check gone wrong mid-request: its message may name
        # internals, so the client gets the generic answer and the log gets the details.
        return await _unexpected(request, exc)
    if exc.status >= 500:
        logger.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc.detail)
    return problem_response(exc.status, exc.detail, request.url.path, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route on the path only (GET for
        # PUT /jobs, although POST /jobs exists); RFC 9110 wants every method of the resource.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(exc.status_code, str(exc.detail), request.url.path, headers)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Echoing inputs back could reflect megabytes or secrets (a password); locations suffice.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    return problem_response(422, "The request is not valid.", request.url.path, errors=errors)


async def _pool_timeout(request: Request, exc: Exception) -> Response:
    logger.warning("database pool exhausted on %s", request.url.path)
    return problem_response(
        503,
        "No database connection became free in time; retry shortly.",
        request.url.path,
        {"Retry-After": str(RETRY_AFTER_S)},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, IntegrityError):
        # A row the write refers to is gone (the caller's own account, deleted while its
        # stateless token lives on) or a concurrent write got there first: a state conflict.
        logger.warning("integrity error on %s: %s", request.url.path, exc.orig)
        return problem_response(
            409, "The change conflicts with the current data.", request.url.path
        )
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        logger.warning("database unavailable on %s: %s", request.url.path, exc.orig)
        return problem_response(
            503, "The database is unavailable; retry shortly.", request.url.path,
            {"Retry-After": str(RETRY_AFTER_S)},
        )  # fmt: skip
    logger.exception("database error on %s", request.url.path)
    return problem_response(500, "Internal error.", request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem_response(500, "Internal error.", request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for a problem+json error."""
    return {"description": description, "model": Problem, "content": {PROBLEM_JSON: {}}}


#: Descriptions of the error codes, reused by every route's OpenAPI ``responses``.
ERROR_DOCS: dict[int, str] = {
    400: "Bad request (for example an invalid pagination cursor).",
    401: "Missing, malformed or expired bearer token.",
    403: "Authenticated, but not allowed (wrong role, or not the owner).",
    404: "No such object, or one the caller may not see.",
    409: "The object's state does not allow this change.",
    413: "Request body larger than 1 MiB.",
    422: "Validation error: the body, path or query parameters are invalid.",
    429: "Rate limit of the caller's tier used up (requests per minute); see Retry-After.",
    500: "Unexpected server error.",
    503: (
        "Database unavailable, connection pool exhausted, or a dependency's circuit breaker "
        "open; see Retry-After."
    ),
}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "integer"}}


#: Headers that always come with an error code (OpenAPI ``headers`` of the response).
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    429: {
        "Retry-After": _header("Seconds until the window frees a request."),
        "RateLimit-Limit": _header("Requests per minute of the caller's tier."),
        "RateLimit-Remaining": _header("Requests left in the current window (0)."),
        "RateLimit-Reset": _header("Seconds until the window frees a request."),
    },
    503: {"Retry-After": _header("Seconds to wait before retrying.")},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error codes (problem+json bodies, their headers)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        doc = problem_doc(ERROR_DOCS[code])
        if code in ERROR_HEADERS:
            doc["headers"] = ERROR_HEADERS[code]
        documented[code] = doc
    return documented
