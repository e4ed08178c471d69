"""Run the service under uvicorn: ``run(port=..., workers=...)``.

``run`` is what ``python -m target_app serve`` and the harness's ``harness serve`` call. Before
uvicorn starts it:

* creates the schema if the database is empty, once, in this process (workers racing to
  create tables would trip over each other), waiting up to ``wait_s`` for the database;
* with more than one worker, sets up ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary
  directory unless one is given, emptied either way: stale files from a previous run would be
  summed into this run's counters);
* in ``DEV_MODE`` without ``SECRET_KEY``, generates one key for all workers, so a token issued
  by one worker is accepted by the others;
* turns off uvicorn's own ``X-Forwarded-For`` handling, which trusts 127.0.0.1 by default,
  so that ``TRUSTED_PROXIES`` alone decides (``middleware/proxy_headers.py``);
* keeps idle connections open for ``KEEP_ALIVE_S`` (75 s) instead of uvicorn's 5 s
  (``core/config.py`` says why).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from pathlib import Path

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from target_app.core.config import load_settings
from target_app.core.db import build_engine
from target_app.core.schema import ensure_schema
from target_app.resilience.install import check_deployment

logger = logging.getLogger("target_app")


def prepare_environment(workers: int, database_url: str | None = None) -> dict[str, str]:
    """Set the environment variables the workers will read; returns what it set."""
    changed: dict[str, str] = {}
    if database_url:
        changed["DATABASE_URL"] = database_url
    changed["WEB_CONCURRENCY"] = str(workers)
    if _truthy(os.environ.get("DEV_MODE")) and not os.environ.get("SECRET_KEY"):
        changed["SECRET_KEY"] = secrets.token_urlsafe(48)
    if workers > 1:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
            prefix="target_app_metrics_"
        )
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        changed["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    os.environ.update(changed)
    return changed


def wait_for_database(wait_s: float = 30.0) -> None:
    """Create the schema if needed, retrying while the database is not reachable yet."""
    settings = load_settings()
    engine = build_engine(settings)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                ensure_schema(engine)
                return
            except SQLAlchemyError as exc:
                if time.monotonic() >= deadline:
                    raise
                logger.warning("waiting for the database: %s", exc)
                time.sleep(1.0)
    finally:
        engine.dispose()


def run(
    *,
    port: int = 8000,
    workers: int = 1,
    host: str = "127.0.0.1",
    database_url: str | None = None,
    log_level: str = "warning",
    wait_s: float = 30.0,
) -> None:
    """Start uvicorn with ``workers`` processes serving ``create_app``; blocks until stopped."""
    if workers < 1:
        raise ValueError(f"workers {workers}: must be at least 1")
    prepare_environment(workers, database_url)
    settings = load_settings()  # fail here, with the variable's name, rather than in a worker
    check_deployment(settings)  # e.g. several workers but no REDIS_URL
    wait_for_database(wait_s)
    print(f"target_app: {workers} worker(s) on http://{host}:{port}", flush=True)
    uvicorn.run(
        "target_app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
        access_log=False,
        server_header=False,
        timeout_keep_alive=settings.keep_alive_s,
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
