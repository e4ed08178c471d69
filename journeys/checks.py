"""Making one API call the way every journey does: named by route, checked, counted.

Every call goes through :meth:`Caller.call`, which

* names the request by its route template (``GET /jobs/{job_id}``), never by the raw URL, so
  Locust's table, our histograms and the service's ``/metrics`` labels line up one to one;
* sends the user's bearer token and its own ``X-Forwarded-For`` address;
* checks status and content with ``catch_response``: a wrong status, a body that is not JSON,
  or a body that fails the caller's check (a created job without an id) is a failure;
* reports a 429 as a failure of its own kind, :class:`RateLimited`, so rate limiting shows up
  as its own line in the failures table and in the histograms' ``rate_limited`` counts;
* accepts a 409 where the caller says it is an expected race (bidding on a job that was just
  awarded): the service answered correctly, the write simply did not happen.
"""

from __future__ import annotations

import json as json_module
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from models.catalogue import Endpoint, split_endpoint

Check = Callable[[Any], str | None]
"""Returns a problem description, or None when the body is right."""

CONFLICT = object()
"""Returned by :meth:`Caller.call` for an accepted 409 (the write did not happen)."""


class RateLimited(Exception):  # the name is what the failures table shows
    """The service answered 429 Too Many Requests."""

    def __init__(self, retry_after: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__("429 Too Many Requests (rate limited)")


class CheckFailed(Exception):
    """The response had the wrong status or content."""


@lru_cache(maxsize=256)
def _split(endpoint: Endpoint) -> tuple[str, str]:
    return split_endpoint(endpoint)


class Caller:
    """Performs API calls for one simulated user and remembers which ones it made."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.calls: list[Endpoint] = []
        """Endpoints called since the last :meth:`reset` (one screen's calls)."""
        self.failure: str | None = None
        """The first failure of the current screen, if any."""
        self.last_status: int | None = None
        """Status of the last call (0: no response at all)."""

    def reset(self) -> None:
        self.calls = []
        self.failure = None

    def call(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        query: Mapping[str, str | int | bool] | None = None,
        json: Any = None,
        expect: int = 200,
        check: Check | None = None,
        allow_conflict: bool = False,
    ) -> Any:
        """Make the call; the parsed body on success, :data:`CONFLICT`, or None on failure."""
        method, template = _split(endpoint)
        url = path
        if query:
            url += "?" + urlencode({k: _query_value(v) for k, v in query.items()})
        self.calls.append(endpoint)
        with self.client.request(
            method, url, name=template, headers=self.headers, json=json, catch_response=True
        ) as response:
            status = response.status_code
            self.last_status = status
            if status == 429:
                response.failure(RateLimited(response.headers.get("retry-after")))
                return self._failed(f"{endpoint}: 429")
            if status == 409 and allow_conflict:
                response.success()
                return CONFLICT
            if status != expect:
                wrong = f"{status} (expected {expect})" if status else _connection_error(response)
                response.failure(CheckFailed(wrong))
                return self._failed(f"{endpoint}: {wrong}")
            body: Any = None
            if status != 204:
                try:
                    # From the bytes: FastResponse.json() decodes text first (charset sniffing).
                    body = json_module.loads((response.content or b"null").decode())
                except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
                    response.failure(CheckFailed(f"{status} but the body is not JSON"))
                    return self._failed(f"{endpoint}: body not JSON")
            problem = check(body) if check is not None else None
            if problem is not None:
                response.failure(CheckFailed(problem))
                return self._failed(f"{endpoint}: {problem}")
            response.success()
            return body

    def _failed(self, description: str) -> None:
        if self.failure is None:
            self.failure = description


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _connection_error(response: Any) -> str:
    error = getattr(response, "error", None)
    return f"no response ({type(error).__name__ if error else 'connection failed'})"


# --- Content checks: each returns a problem or None ----------------------------------------


def items_of(body: Any) -> list[Any]:
    """The items of a list response (``{"items": [...]}`` page or a bare list)."""
    if isinstance(body, dict):
        items = body.get("items")
        return items if isinstance(items, list) else []
    return body if isinstance(body, list) else []


def is_page(body: Any) -> str | None:
    if isinstance(body, list) or (isinstance(body, dict) and isinstance(body.get("items"), list)):
        return None
    return "expected a list of items"


def has_id(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("id"), int) and body["id"] > 0:
        return None
    return "expected an object with a positive integer id"


def has_keys(*keys: str) -> Check:
    def check(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "expected a JSON object"
        missing = [k for k in keys if k not in body]
        return f"missing {', '.join(missing)}" if missing else None

    return check


def has_status(expected: str) -> Check:
    def check(body: Any) -> str | None:
        problem = has_id(body)
        if problem is not None:
            return problem
        status = body.get("status")
        return None if status == expected else f"status {status!r}, expected {expected!r}"

    return check
