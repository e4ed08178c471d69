"""The launch-readiness check of a host: ten questions a release manager asks before launch.

The source document's 10-point checklist, rethought for a running service and answered by
looking at it from outside, in order (later checks need the earlier ones)::

    1 reachable          something answers HTTP on the host at all
    2 liveness           GET /health is 200
    3 readiness          GET /health/ready is 200
    4 database           readiness says the database answered
    5 pool headroom      connections in use below 80% of the pool's maximum
    6 login              a seeded account can sign in (homeowner0@seed.example)
    7 read endpoints     a few read endpoints answer 200 under the API p95 objective
    8 rate limits        responses carry RateLimit-* headers       (not offered: no failure)
                         (not checked when there is no authenticated response to look at)
    9 metrics            /metrics is scrapeable Prometheus text with request counters
   10 breakers           no circuit breaker is open                 (not offered: no failure)

A check *passes*, *fails*, is *not offered* by the service (the feature is absent, which is
worth knowing but not a reason to block), or is *not checked* when what it looks at could not
be had (the login it needs was refused). Only an unreachable host makes the command exit 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

SEED_PASSWORD = "launch-day-password"  # noqa: S105  # the seeder's documented test password
SEED_ACCOUNT = "homeowner0@seed.example"
POOL_HEADROOM = 0.8
READ_ENDPOINTS = ("/me", "/territories", "/jobs?page_size=20")


class Status(StrEnum):
    PASS = "pass"  # noqa: S105  # a check status, not a password
    FAIL = "fail"
    NOT_OFFERED = "not offered"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True, slots=True)
class CheckResult:
    number: int
    name: str
    status: Status
    detail: str


@dataclass
class _Context:
    host: str
    client: httpx.Client
    slo_ms: float
    ready: Mapping[str, Any] | None = None
    token: str | None = None
    last_headers: Mapping[str, str] | None = None
    login_refusal: str | None = None
    """Why the login gave no token, as check 6 reported it (None: it did, or was not tried)."""


def _timed_get(ctx: _Context, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = ctx.client.get(f"{ctx.host}{path}", **kwargs)
    return response, (time.perf_counter() - started) * 1000.0


def _liveness(ctx: _Context) -> tuple[Status, str]:
    response, ms = _timed_get(ctx, "/health")
    ok = response.status_code == 200
    return (
        Status.PASS if ok else Status.FAIL
    ), f"/health answered {response.status_code} in {ms:.0f} ms"


def _readiness(ctx: _Context) -> tuple[Status, str]:
    response, ms = _timed_get(ctx, "/health/ready")
    try:
        ctx.ready = response.json()
    except ValueError:
        ctx.ready = None
    ok = response.status_code == 200
    return (
        Status.PASS if ok else Status.FAIL
    ), f"/health/ready answered {response.status_code} in {ms:.0f} ms"


def _database(ctx: _Context) -> tuple[Status, str]:
    database = (ctx.ready or {}).get("database")
    if not isinstance(database, Mapping):
        return Status.FAIL, "readiness does not report the database"
    if database.get("ok"):
        backend = database.get("backend", "?")
        return Status.PASS, f"{backend} answered in {database.get('latency_ms', '?')} ms"
    return Status.FAIL, f"database not ok: {database.get('error', 'unknown error')}"


def _pool(ctx: _Context) -> tuple[Status, str]:
    pool = (ctx.ready or {}).get("pool")
    if not isinstance(pool, Mapping) or not pool.get("max"):
        return Status.NOT_OFFERED, "readiness does not report the connection pool"
    in_use, maximum = float(pool.get("in_use", 0)), float(pool["max"])
    waiting = float(pool.get("waiting", 0))
    used = in_use / maximum
    ok = used < POOL_HEADROOM and waiting == 0
    return (Status.PASS if ok else Status.FAIL), (
        f"{in_use:g} of {maximum:g} connections in use ({used:.0%}), {waiting:g} waiting"
    )


def _login(ctx: _Context) -> tuple[Status, str]:
    started = time.perf_counter()
    response = ctx.client.post(
        f"{ctx.host}/auth/login", json={"email": SEED_ACCOUNT, "password": SEED_PASSWORD}
    )
    ms = (time.perf_counter() - started) * 1000.0
    if response.status_code != 200:
        ctx.login_refusal = f"login as {SEED_ACCOUNT} answered {response.status_code}"
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After")
            ctx.login_refusal += " (rate limited" + (
                f", Retry-After {retry_after} s)" if retry_after is not None else ")"
            )
        return Status.FAIL, ctx.login_refusal
    try:
        ctx.token = str(response.json()["access_token"])
    except (ValueError, KeyError, TypeError):
        ctx.login_refusal = "login answered 200 without an access_token"
        return Status.FAIL, ctx.login_refusal
    ctx.last_headers = response.headers
    return Status.PASS, f"signed in as {SEED_ACCOUNT} in {ms:.0f} ms"


def _reads(ctx: _Context) -> tuple[Status, str]:
    if ctx.token is None:
        return Status.FAIL, "skipped: no token (the login failed)"
    headers = {"Authorization": f"Bearer {ctx.token}"}
    slow, failed, timings = [], [], []
    for path in READ_ENDPOINTS:
        response, ms = _timed_get(ctx, path, headers=headers)
        ctx.last_headers = response.headers
        timings.append(f"{path.split('?')[0]} {ms:.0f} ms")
        if response.status_code != 200:
            failed.append(f"{path} -> {response.status_code}")
        elif ms >= ctx.slo_ms:
            slow.append(f"{path} {ms:.0f} ms")
    if failed or slow:
        return Status.FAIL, "; ".join(
            failed + [f"slower than {ctx.slo_ms:g} ms: {s}" for s in slow]
        )
    return Status.PASS, ", ".join(timings) + f" (objective {ctx.slo_ms:g} ms)"


def _rate_limits(ctx: _Context) -> tuple[Status, str]:
    if ctx.token is None:
        # No authenticated response exists, so their headers cannot be called absent.
        reason = ctx.login_refusal or "the login was not made"
        return Status.NOT_CHECKED, f"no authenticated response to look at: {reason}"
    headers = ctx.last_headers or {}
    present = [
        h for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset") if h in headers
    ]
    if not present:
        return Status.NOT_OFFERED, "no RateLimit-* headers on an authenticated response"
    if len(present) < 3:
        return Status.FAIL, f"only {', '.join(present)} present"
    return Status.PASS, (
        f"limit {headers['RateLimit-Limit']}, remaining {headers['RateLimit-Remaining']}, "
        f"reset {headers['RateLimit-Reset']} s"
    )


def _metric_families(ctx: _Context) -> dict[str, Any]:
    response = ctx.client.get(f"{ctx.host}/metrics")
    response.raise_for_status()
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def _metrics(ctx: _Context) -> tuple[Status, str]:
    try:
        families = _metric_families(ctx)
    except httpx.HTTPStatusError as exc:
        return Status.FAIL, f"/metrics answered {exc.response.status_code}"
    except ValueError as exc:
        return Status.FAIL, f"/metrics is not Prometheus text: {exc}"
    if "http_requests" not in families:
        return Status.FAIL, f"/metrics lacks http_requests_total ({len(families)} families)"
    return Status.PASS, f"{len(families)} metric families, request counters present"


def _breakers(ctx: _Context) -> tuple[Status, str]:
    states = _breaker_states(ctx)
    if not states:
        return Status.NOT_OFFERED, "neither readiness nor /metrics reports circuit breakers"
    open_ = sorted(name for name, state in states.items() if state != "closed")
    if open_:
        return Status.FAIL, "not closed: " + ", ".join(f"{n} ({states[n]})" for n in open_)
    return Status.PASS, f"{len(states)} breakers closed: {', '.join(sorted(states))}"


def _breaker_states(ctx: _Context) -> dict[str, str]:
    """Breaker name -> state, from readiness (``breakers``) or from /metrics."""
    reported = (ctx.ready or {}).get("breakers")
    if isinstance(reported, Mapping) and reported:
        return {
            str(name): str(value.get("state") if isinstance(value, Mapping) else value).lower()
            for name, value in reported.items()
        }
    try:
        response = ctx.client.get(f"{ctx.host}/metrics")
        response.raise_for_status()
        return breaker_states_from_metrics(response.text)
    except (httpx.HTTPError, ValueError):
        return {}


#: ``circuit_breaker_state`` gauge values (target_app/resilience/registry.py).
GAUGE_STATES = {0: "closed", 1: "half-open", 2: "open"}


def breaker_states_from_metrics(text: str) -> dict[str, str]:
    """Breaker name -> state from Prometheus text: a numeric ``*breaker*state*`` gauge per
    ``dependency`` (0 closed, 1 half-open, 2 open), or an enum-style family with a ``state``
    label whose current sample is 1.
    """
    states: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        if "breaker" not in family.name or "state" not in family.name:
            continue
        for sample in family.samples:
            labels = sample.labels
            breaker = labels.get("dependency") or labels.get("breaker") or labels.get("name")
            if not breaker:
                continue
            if "state" in labels:
                if sample.value == 1:
                    states[breaker] = labels["state"].lower()
            else:
                states[breaker] = GAUGE_STATES.get(int(sample.value), f"state {sample.value:g}")
    return states


CHECKS: tuple[tuple[str, Callable[[_Context], tuple[Status, str]]], ...] = (
    ("liveness", _liveness),
    ("readiness", _readiness),
    ("database", _database),
    ("pool headroom", _pool),
    ("login", _login),
    ("read endpoints", _reads),
    ("rate-limit headers", _rate_limits),
    ("metrics", _metrics),
    ("circuit breakers", _breakers),
)


def reachable(host: str, timeout_s: float = 5.0) -> str | None:
    """None when something answers HTTP at ``host``, else why not."""
    try:
        httpx.get(f"{host}/health", timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_checks(host: str, slo_ms: float, timeout_s: float = 10.0) -> list[CheckResult]:
    """Checks 2-10 (the caller has established that the host is reachable, check 1)."""
    host = host.rstrip("/")
    results = [CheckResult(1, "reachable", Status.PASS, f"{host} answers HTTP")]
    with httpx.Client(timeout=timeout_s) as client:
        ctx = _Context(host, client, slo_ms)
        for number, (name, check) in enumerate(CHECKS, start=2):
            try:
                status, detail = check(ctx)
            except httpx.HTTPError as exc:
                status, detail = Status.FAIL, f"{type(exc).__name__}: {exc}"
            results.append(CheckResult(number, name, status, detail))
    return results
