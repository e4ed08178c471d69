"""One exception root (``core/errors.py``): every error of the service under it, drawn in the
module's docstring, carrying what failed, and answered by one problem handler."""

from __future__ import annotations

import inspect
import re

import httpx
import pytest
from fastapi import FastAPI

import target_app.core.errors as errors
from target_app.core.errors import (
    ConfigError,
    DependencyUnavailable,
    IdempotencyKeyReused,
    InvalidToken,
    NotFound,
    ResilienceError,
    SchemaVersionError,
    SeedError,
    ServiceError,
)
from target_app.core.problems import install_problem_handlers

CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__
}


def test_every_error_of_the_service_is_under_one_root() -> None:
    assert all(issubclass(cls, ServiceError) for cls in CLASSES.values())
    for former_root in (ConfigError, SchemaVersionError, SeedError, InvalidToken, ResilienceError):
        assert former_root.__bases__[0] is ServiceError, former_root


def test_the_docstring_draws_every_class_with_its_parent() -> None:
    drawn: dict[str, str] = {}
    parents: list[str] = []  # the class drawn last at each depth
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^    ([ │]*)(?:[├└]── )?([A-Z]\w+)\s", line + " ")
        if match is None or match.group(2) not in CLASSES:
            continue
        depth = len(match.group(1)) // 5 + (1 if "──" in line else 0)
        del parents[depth:]
        drawn[match.group(2)] = parents[-1] if parents else ""
        parents.append(match.group(2))
    assert set(drawn) == set(CLASSES)
    for name, parent in drawn.items():
        if parent:
            assert issubclass(CLASSES[name], CLASSES[parent]), f"{name} is drawn under {parent}"


def test_errors_carry_what_failed() -> None:
    config = ConfigError("DB_POOL_MIN", "many", "Input should be a valid integer.")
    assert (config.variable, config.value) == ("DB_POOL_MIN", "many")
    assert str(config) == "Config 'DB_POOL_MIN' has value 'many'. Input should be a valid integer."
    schema = SchemaVersionError(1, 3)
    assert (schema.found, schema.expected) == (1, 3)
    assert SeedError("sqlite:///x.db", "already has a schema").url == "sqlite:///x.db"
    assert InvalidToken("bad signature").reason == "bad signature"
    down = DependencyUnavailable("storage", "timed out", retry_after_s=2.5)
    assert (down.dependency, down.reason, down.headers) == (
        "storage",
        "timed out",
        {"Retry-After": "3"},
    )
    assert IdempotencyKeyReused("key-1", "used before").key == "key-1"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_error_is_answered_by_its_status_and_a_500_tells_nothing() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("No job 7.")

    @app.get("/misconfigured")
    async def misconfigured() -> None:
        raise ConfigError("SECRET_KEY", "<hidden, 3 characters>", "Too short.")

    @app.get("/down")
    async def down() -> None:
        raise DependencyUnavailable("payments", "circuit open, retry in 12.0 s", 12.0)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        missing_answer = await client.get("/missing")
        internal = await client.get("/misconfigured")
        unavailable = await client.get("/down")
    assert (missing_answer.status_code, missing_answer.json()["detail"]) == (404, "No job 7.")
    assert internal.status_code == 500
    assert internal.json()["detail"] == "Internal error."  # the setting's name stays in the log
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "12"
    assert unavailable.json()["detail"] == "payments is unavailable: circuit open, retry in 12.0 s"
