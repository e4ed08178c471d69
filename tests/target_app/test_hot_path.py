"""The fast path of ``GET /jobs`` on SQLite (the event loop's reader, `DirectRoute`) answers
exactly what the general path answers, and keeps its guarantees: read-only, measured, errors
mapped, FastAPI's own 422s, no silently dropped dependency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Query
from fastapi.responses import Response
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from target_app.api.direct_route import DirectRoute
from target_app.api.job_search import JobQuery
from target_app.api.routes.jobs import _job_page
from target_app.core.loop_reader import compiled
from target_app.main import create_app
from target_app.schemas import JobSummary, Page
from target_app.seed import seed_database
from tests.target_app.conftest import SMALL_PLAN, account, make_settings

SHAPES: list[dict[str, Any]] = [
    {},
    {"territory_id": 2},
    {"territory_id": 2, "category": "plumbing"},
    {"urgent": True},
    {"min_budget": 100, "max_budget": 50_000, "territory_id": 1},
    {"status": "awarded"},
    {"mine": True},
    {"page_size": 3},
]


@pytest.fixture(scope="module")
def sqlite_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('hot') / 'marketplace.db'}"
    seed_database(url, SMALL_PLAN)
    with TestClient(create_app(make_settings(url))) as client:
        yield client


@pytest.mark.parametrize("filters", SHAPES, ids=[repr(s) for s in SHAPES])
def test_loop_reader_pages_are_byte_identical_to_sqlalchemy_pages(
    sqlite_client: TestClient, filters: dict[str, Any]
) -> None:
    state = sqlite_client.app.state.target_app  # type: ignore[attr-defined]
    caller = account("homeowner", 0)
    query = JobQuery(**filters)
    pages = 0
    while True:
        general = _job_page(state, caller, query)
        fast = _job_page(state, caller, query, state.db.loop_reader)
        assert fast == general
        pages += 1
        next_cursor = json.loads(fast)["next_cursor"]
        if next_cursor is None or pages == 4:
            break
        query = JobQuery(**filters, cursor=next_cursor)
    assert pages >= 1


EXOTIC_TITLES = [
    'Quotes "here", a backslash \\ and a slash /',
    "Umlauts \u00fc\u00f6, a tap \U0001f6b0 and a line separator \u2028",
    "A control character \x01 and a tab \t",
]


def test_pages_with_unusual_titles_are_identical_valid_json_on_both_paths(
    tmp_path: Path,
) -> None:
    """Titles are user input: every character JSON must escape (or need not) comes out the
    same on the fast path and the general one, and as pydantic would write the page."""
    url = f"sqlite:///{tmp_path / 'marketplace.db'}"
    seed_database(url, SMALL_PLAN)
    engine = create_engine(url)  # before the app starts: no other writer to wait for
    with engine.begin() as conn:
        for offset, title in enumerate(EXOTIC_TITLES, start=1):
            conn.execute(
                text(
                    "INSERT INTO jobs (id, title, description, category, budget, urgent, status,"
                    " territory_id, homeowner_id, created_at, updated_at) SELECT :id, :title,"
                    " description, 'roofing', 4321, 1, 'open', territory_id, homeowner_id,"
                    " '2031-01-01 00:00:00.000000', updated_at FROM jobs WHERE id = 1"
                ),
                {"id": SMALL_PLAN.jobs + offset, "title": title},
            )
    engine.dispose()
    with TestClient(create_app(make_settings(url))) as client:
        _compare_unusual_titles(client.app.state.target_app)  # type: ignore[attr-defined]


def _compare_unusual_titles(state: Any) -> None:
    caller = account("homeowner", 0)
    query = JobQuery.model_validate({"category": "roofing", "min_budget": 4321, "max_budget": 4321})
    fast = _job_page(state, caller, query, state.db.loop_reader)
    assert fast == _job_page(state, caller, query)
    page = Page[JobSummary].model_validate_json(fast)
    assert [item.title for item in page.items] == list(reversed(EXOTIC_TITLES))
    assert fast == page.model_dump_json().encode()


def test_listing_counts_database_time_and_is_served_from_the_loop_reader(
    sqlite_client: TestClient,
) -> None:
    state = sqlite_client.app.state.target_app  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {state.signer.issue(account('contractor', 1))}"}
    before = _sample(sqlite_client, "http_request_db_seconds_total")
    response = sqlite_client.get("/jobs", params={"territory_id": 2}, headers=headers)
    assert response.status_code == 200
    assert response.json()["items"], "the seeded territory has open jobs"
    assert _sample(sqlite_client, "http_request_db_seconds_total") > before


def _sample(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{method="GET",route="/jobs"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_loop_reader_cannot_write_and_maps_driver_errors(sqlite_client: TestClient) -> None:
    db = sqlite_client.app.state.target_app.db  # type: ignore[attr-defined]
    write = compiled(text("DELETE FROM jobs"), db.engine)
    with pytest.raises(OperationalError, match="readonly"):
        db.loop_reader.read(write, {})
    with db.engine.connect() as conn:  # nothing was deleted, and the reader still works
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == SMALL_PLAN.jobs
    count = compiled(text("SELECT count(*) FROM jobs"), db.engine)
    assert db.loop_reader.read(count, {}) == [(SMALL_PLAN.jobs,)]


@pytest.mark.parametrize(
    "params",
    [{"page_size": "0"}, {"page_size": "many"}, {"status": "lost"}, {"territory_id": ""}],
)
def test_direct_route_422_is_fastapis(
    sqlite_client: TestClient, tmp_path: Path, params: dict[str, str]
) -> None:
    """The same request against a plain FastAPI route with the same declarations."""
    state = sqlite_client.app.state.target_app  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {state.signer.issue(account('homeowner', 0))}"}
    ours = sqlite_client.get("/jobs", params=params, headers=headers)
    assert ours.status_code == 422
    plain = create_app(make_settings(f"sqlite:///{tmp_path / 'plain.db'}"))
    plain.router.routes = [r for r in plain.router.routes if getattr(r, "path", "") != "/jobs"]

    @plain.get("/jobs")
    async def jobs(query: Annotated[JobQuery, Query()]) -> dict[str, str]:
        return {}

    with TestClient(plain) as plain_client:
        reference = plain_client.get("/jobs", params=params)
    assert reference.status_code == 422
    assert ours.json()["errors"] == reference.json()["errors"]


def test_direct_route_refuses_parameters_it_cannot_resolve() -> None:
    async def endpoint(job_id: int) -> Response:
        return Response()

    with pytest.raises(TypeError, match="job_id"):
        DirectRoute("/x/{job_id}", endpoint)
