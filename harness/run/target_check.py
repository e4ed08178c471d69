"""A ``--host`` target checked against the profile's ``[target]`` before any load is sent.

Three questions, in order, each answered before the run directory exists::

    readiness   GET ready_path answers 200 within --ready-timeout        else exit 3
    login       the [target.login] request answers expect_status         else exit 2 (3: no answer)
    metrics     the metrics URL answers, with the request counter and    else exit 2 (3: no answer)
                its route, method and status labels

A target without metrics (``[target.metrics] url = ""``) passes the third; the run then says
what it cannot judge (:data:`NO_METRICS`).
"""

from __future__ import annotations

import httpx

from harness.errors import TargetUnreachable, UsageError
from harness.run.scrape import counter_labels, metrics_url
from harness.run.service import wait_ready
from models.profile import TargetConfig, TargetLogin, TargetMetrics

#: What a run against a target without metrics cannot judge, and why.
NO_METRICS: dict[str, str] = {
    "server_vs_client": (
        "the target has no metrics ([target.metrics] url is empty): the load generator's "
        "request counts cannot be reconciled with the server's"
    ),
    "calibration": (
        "the target has no metrics: no per-endpoint CPU, so harness calibrate cannot measure "
        "service demands from this run"
    ),
}

TIMEOUT_S = 10.0


def check_target(host: str, target: TargetConfig, ready_timeout_s: float) -> None:
    """Readiness, login, metrics (module docstring); raises TargetUnreachable or UsageError."""
    wait_ready(host, ready_timeout_s, path=target.ready_path)
    check_login(host, target.login)
    if target.metrics.url:
        check_metrics(host, target.metrics)


def _url(host: str, path: str) -> str:
    return path if path.startswith(("http://", "https://")) else f"{host}{path}"


def check_login(host: str, login: TargetLogin) -> None:
    """One login with the profile's credentials; a refusal is bad input (exit 2)."""
    if not login.path:
        return
    url = _url(host, login.path)
    body = {"data": dict(login.body)} if login.form else {"json": dict(login.body)}
    try:
        if login.method == "GET":
            response = httpx.get(url, params=dict(login.body), timeout=TIMEOUT_S)
        else:
            response = httpx.post(url, timeout=TIMEOUT_S, **body)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise TargetUnreachable(url, f"the login got no answer ({type(exc).__name__})") from None
    if response.status_code != login.expect_status:
        raise UsageError(
            f"target.login: {login.method} {url} answered {response.status_code}, expected "
            f"{login.expect_status} ({response.text[:200]!r}): check [target.login] path and "
            "body (the credentials)"
        )


def check_metrics(host: str, spec: TargetMetrics) -> None:
    """The metrics answer with the request counter and every label ``spec`` names."""
    url = metrics_url(host, spec)
    try:
        response = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise TargetUnreachable(url, f"the metrics got no answer ({type(exc).__name__})") from None
    fix = 'fix [target.metrics], or set url = "" for a target without metrics'
    if response.status_code != 200:
        raise UsageError(
            f"target.metrics.url = {spec.url!r}: {url} answered {response.status_code}; {fix}"
        )
    try:
        seen = counter_labels(response.text, spec)
    except ValueError as exc:
        raise UsageError(
            f"target.metrics.url = {spec.url!r}: {url} is not Prometheus text ({exc}); {fix}"
        ) from None
    if seen is None:
        raise UsageError(
            f"target.metrics.requests_metric = {spec.requests_metric!r}: {url} has no sample "
            f"of it; {fix}"
        )
    wanted = (spec.route_label, spec.method_label, spec.status_label)
    missing = [label for label in wanted if label not in seen]
    if missing:
        raise UsageError(
            f"target.metrics: {url} answers {spec.requests_metric} without the label(s) "
            f"{', '.join(missing)} (its labels: {', '.join(sorted(seen)) or 'none'}); name "
            f"them in route_label, method_label, status_label ({fix})"
        )
