"""Fixtures of the service's read-path tests against the lab's real parts: a PostgreSQL
primary with a streaming replica (``harness.lab.postgres``), seeded with `SMALL_PLAN`, and
helpers to read the service's counters.

A primary and its replica take a few seconds to make, so the module shares one
(`lab_database`); a test that stops a server makes its own (`own_lab_database`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.lab.cleanup import LabLedger
from harness.lab.postgres import LabPostgres, PostgresServer, PostgresSettings
from harness.lab.programs import INITDB
from target_app.seed import seed_database
from tests.harness.lab.conftest import require_programs
from tests.target_app.conftest import SMALL_PLAN, account

CATCH_UP_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class LabDatabase:
    """A seeded primary and its replica, as SQLAlchemy URLs."""

    database: LabPostgres
    ledger: LabLedger
    primary: PostgresServer
    replicas: tuple[PostgresServer, ...]

    @property
    def replica(self) -> PostgresServer:
        return self.replicas[0]

    @property
    def primary_url(self) -> str:
        return _sqlalchemy(self.primary.url())

    @property
    def replica_url(self) -> str:
        return _sqlalchemy(self.replica.url())


def _sqlalchemy(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _wait_caught_up(database: LabPostgres) -> None:
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(lag.lag_bytes == 0 for lag in database.replication_lag()):
            return
        time.sleep(0.05)
    raise AssertionError(f"the replica did not catch up in {CATCH_UP_TIMEOUT_S} s")


@contextmanager
def seeded_lab(replicas: int = 1) -> Iterator[LabDatabase]:
    """A primary with ``replicas`` streaming replicas, seeded and caught up; removed after."""
    require_programs(INITDB)
    work = Path(tempfile.mkdtemp(prefix="lab-test-"))
    work.chmod(0o755)  # the servers run as the postgres user, who must enter it
    ledger = LabLedger(work / "state", work / "lab", catch_sigterm=False).open()
    try:
        with LabPostgres(ledger, PostgresSettings(replicas=replicas)) as database:
            assert database.primary is not None
            if replicas:
                database.wait_streaming()
            lab = LabDatabase(database, ledger, database.primary, tuple(database.replicas))
            seed_database(lab.primary_url, SMALL_PLAN)
            if replicas:
                _wait_caught_up(database)
            yield lab
    finally:
        ledger.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def lab_database() -> Iterator[LabDatabase]:
    """One seeded primary and replica for the module's tests that only read and write."""
    with seeded_lab() as lab:
        yield lab


@pytest.fixture
def own_lab_database() -> Iterator[LabDatabase]:
    """A seeded primary and replica of the test's own (it may stop them)."""
    with seeded_lab() as lab:
        yield lab


def bearer(app: FastAPI, role: str, n: int) -> dict[str, str]:
    """Authorization headers of seeded account ``n`` of ``role`` (the app's own signer)."""
    token = app.state.target_app.signer.issue(account(role, n))
    return {"Authorization": f"Bearer {token}"}


def counter(client: TestClient, name: str, **labels: str) -> float:
    """The value of counter ``name`` (without ``_total``) with ``labels`` on ``/metrics``;
    0 when it has no such sample yet."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_total" and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return float(sample.value)
    return 0.0
