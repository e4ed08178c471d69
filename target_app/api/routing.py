"""The route class of every API route, and how endpoints build their responses.

`ServiceRoute` does two things for each route when the application is built:

* wraps a synchronous endpoint so the CPU time of its thread counts for the request
  (``core/cost.py``);
* documents in OpenAPI the error responses the route's declarations imply: 401/403 from its
  `Access` dependency, 422 when it takes parameters or a body, 413 for a body, 409 (a
  concurrent duplicate), 400 (a malformed key) and 422 (a reused key) when it is an
  idempotent write (``IdempotentWriteDep``), 429 unless its path is exempt from rate limits,
  500 always, 503 when it uses the database. Route-specific codes (404, 409) are declared on
  the route.

Endpoints return `json_response(model)`, serialized in the endpoint's own thread by pydantic's
Rust serializer: FastAPI would otherwise validate and serialize the return value again on the
event loop, outside the request's measured CPU, and with more work than the serializer alone.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from fastapi import params
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from target_app.api.deps import Access, get_idempotent_write
from target_app.core.cost import cpu_accounted
from target_app.core.problems import responses
from target_app.resilience.ratelimit import EXEMPT_PATHS

JSON = "application/json"


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``model`` as a JSON response."""
    return Response(
        model.model_dump_json(), status_code=status_code, media_type=JSON, headers=headers
    )


def access_of(endpoint: Callable[..., Any]) -> list[Access]:
    """The `Access` dependencies declared in ``endpoint``'s signature."""
    found: list[Access] = []
    hints = typing.get_type_hints(endpoint, include_extras=True)
    for name in inspect.signature(endpoint).parameters:
        for meta in getattr(hints.get(name), "__metadata__", ()):
            if isinstance(meta, params.Depends) and isinstance(meta.dependency, Access):
                found.append(meta.dependency)
    return found


def _implied_errors(endpoint: Callable[..., Any], uses_db: bool, path: str) -> set[int]:
    codes = {500}
    if path not in EXEMPT_PATHS:
        codes.add(429)  # the rate limiter answers before the route (limits are on by default)
    hints = typing.get_type_hints(endpoint, include_extras=True)
    for access in access_of(endpoint):
        if not access.anonymous:
            codes.add(401)
        if access.roles and not access.anonymous:
            codes.add(403)
    for name in inspect.signature(endpoint).parameters:
        hint = hints.get(name)
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        metadata = getattr(hint, "__metadata__", ())
        if any(isinstance(m, params.Path | params.Query) for m in metadata):
            codes.add(422)  # (a query-parameter model is a BaseModel too, but has no body)
        elif inspect.isclass(base) and issubclass(base, BaseModel):
            codes |= {400, 413, 422}  # 400: a body that is not UTF-8 (FastAPI's parse error)
        if any(isinstance(m, params.Depends) and m.dependency is get_idempotent_write
               for m in metadata):  # fmt: skip
            codes |= {400, 409, 422}  # a malformed key; a duplicate in flight; reused key
    if uses_db:
        codes.add(503)
    return codes


class ServiceRoute(APIRoute):
    """An `APIRoute` that measures its endpoint's CPU and documents its implied errors."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        uses_db = not inspect.iscoroutinefunction(endpoint)  # the async ones never touch it
        declared: dict[int | str, Any] = dict(kwargs.pop("responses", None) or {})
        for code, doc in responses(*sorted(_implied_errors(endpoint, uses_db, path))).items():
            declared.setdefault(code, doc)
        if any(access.anonymous or access.admin for access in access_of(endpoint)):
            # The bearer token is optional here: `{}` is OpenAPI's "no security" alternative.
            kwargs["openapi_extra"] = {"security": [{}], **(kwargs.get("openapi_extra") or {})}
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = cpu_accounted(endpoint)
        super().__init__(path, endpoint, responses=declared, **kwargs)
