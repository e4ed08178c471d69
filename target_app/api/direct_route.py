"""`DirectRoute`: FastAPI's declarations, without its per-request dependency machinery.

For each request FastAPI walks the route's dependency tree (``solve_dependencies``), builds an
exit stack, and validates a query-parameter model field by field with alias and extras
handling. For ``GET /jobs``, the hottest request, that walk costs several times the work it
resolves, one HMAC token check and one pydantic validation of ten optional fields, and a large
share of the whole request (docs/benchmarks.md, "Service").

A `DirectRoute` keeps the declarations exactly as they are (the same signature, so the same
OpenAPI document, and the same `Access` dependency, which the route-table tests read) but
resolves the three kinds of parameter it allows by hand, in FastAPI's order:

* the `AppState` (``StateDep``);
* the caller, from the route's own `Access` dependency, given the credentials the same
  ``HTTPBearer`` scheme extracts (401/403 exactly as FastAPI answers them, and before any
  422);
* one query-parameter model (``Annotated[Model, Query()]``), validated by pydantic from the
  query string (the last value of a repeated key, as FastAPI takes it). When validation fails,
  FastAPI's own resolution runs instead, so that error responses are FastAPI's to the byte.

Any other kind of parameter is refused when the route is built, so a route cannot silently
lose a dependency by using this class. The endpoint must be ``async def`` and return a
`Response`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import params
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.requests import Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.types import Scope

from target_app.api.deps import Access, AppState, _bearer, get_state
from target_app.api.routing import ServiceRoute

_Resolver = Callable[[Request], Awaitable[Any]]


class DirectRoute(ServiceRoute):
    """A `ServiceRoute` whose parameters (state, caller, query model) are resolved directly."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"DirectRoute {path}: the endpoint must be async def")
        self._plan = _resolution_plan(path, endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[..., Awaitable[Response]] = self.endpoint
        plan = self._plan
        query_params = self.dependant.query_params

        async def handler(request: Request) -> Response:
            values: dict[str, Any] = {}
            query_value: tuple[str, type[BaseModel]] | None = None
            for name, kind, detail in plan:
                if kind == "state":
                    values[name] = await get_state(request)
                elif kind == "access":
                    values[name] = await detail(request, await _bearer(request))
                else:
                    query_value = (name, detail)
            if query_value is not None:
                name, model = query_value
                try:
                    values[name] = model.model_validate(_last_values(request.scope))
                except ValidationError:
                    # Cold path: FastAPI's own resolution, so the 422 is the usual one.
                    solved, errors = request_params_to_args(query_params, request.query_params)
                    if errors:
                        raise RequestValidationError(errors) from None
                    values[name] = solved[name]
            return await endpoint(**values)

        return handler


def _last_values(scope: Scope) -> dict[str, str]:
    """The query string as a dict, the last value of a repeated key winning: what
    ``dict(request.query_params)`` gives (same decoding), without building the multi-dict."""
    query = scope.get("query_string", b"")
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))


def _resolution_plan(path: str, endpoint: Callable[..., Any]) -> list[tuple[str, str, Any]]:
    """(parameter, kind, detail) per parameter of ``endpoint``; TypeError for other kinds."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    plan: list[tuple[str, str, Any]] = []
    for name in inspect.signature(endpoint).parameters:
        hint = hints.get(name)
        metadata = getattr(hint, "__metadata__", ())
        base = typing.get_args(hint)[0] if metadata else hint
        depends = [m for m in metadata if isinstance(m, params.Depends)]
        if depends and depends[0].dependency is get_state and base is AppState:
            plan.append((name, "state", None))
        elif depends and isinstance(depends[0].dependency, Access):
            plan.append((name, "access", depends[0].dependency))
        elif (
            any(isinstance(m, params.Query) for m in metadata)
            and inspect.isclass(base)
            and issubclass(base, BaseModel)
        ):
            plan.append((name, "query", base))
        else:
            raise TypeError(f"DirectRoute {path}: parameter {name!r} ({hint}) is not supported")
    return plan
