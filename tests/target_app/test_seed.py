"""The seeder: the launch-scale plan, determinism, the account pattern journeys rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from target_app.cli import main as cli_main
from target_app.seed import SeedError, SeedPlan, seed_database
from tests.target_app.conftest import SMALL_PLAN

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_plan_at_launch_scale() -> None:
    plan = SeedPlan.for_scale(1.0)
    assert (plan.homeowners, plan.contractors, plan.operators) == (240_000, 140_000, 20_000)
    assert plan.territories == 50
    assert plan.jobs == 45_000  # 30 days x 1,500
    assert plan.jobs * plan.bids_per_job == 225_000  # x 7,500
    assert plan.threads * plan.messages_per_thread == 450_000  # x 15,000


def test_plan_at_one_percent() -> None:
    plan = SeedPlan.for_scale(0.01)
    assert (plan.homeowners, plan.contractors, plan.operators, plan.jobs) == (2400, 1400, 200, 450)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"homeowners": 0}, "homeowners = 0"),
        ({"bids_per_job": 99}, "bids_per_job = 99"),
        ({"threads": 10**6}, "threads"),
    ],
)
def test_plan_checks_its_counts(change: dict[str, int], message: str) -> None:
    fields = {name: getattr(SMALL_PLAN, name) for name in SMALL_PLAN.__dataclass_fields__}
    with pytest.raises(ValueError, match=message):
        SeedPlan(**(fields | change))


def dump(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    rows: list[tuple[object, ...]] = []
    with engine.connect() as conn:
        for table in ("territories", "users", "jobs", "bids", "threads", "messages"):
            query = text(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 (fixed names)
            rows.extend(conn.execute(query).all())
    engine.dispose()
    return rows


def test_same_plan_same_rows(tmp_path: Path) -> None:
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    seed_database(a, SMALL_PLAN, now=NOW)
    seed_database(b, SMALL_PLAN, now=NOW)
    assert dump(a) == dump(b)
    c = f"sqlite:///{tmp_path / 'c.db'}"
    other = SeedPlan(
        **{**{n: getattr(SMALL_PLAN, n) for n in SMALL_PLAN.__dataclass_fields__}, "seed": 8}
    )
    seed_database(c, other, now=NOW)
    assert dump(a) != dump(c)


def test_account_pattern_and_journey_guarantees(db_url: str) -> None:
    engine = create_engine(db_url)
    plan = SMALL_PLAN
    with engine.connect() as conn:
        users = {row.email: row for row in conn.execute(text("SELECT * FROM users"))}
        assert len(users) == plan.users
        for role, count in (
            ("homeowner", plan.homeowners),
            ("contractor", plan.contractors),
            ("operator", plan.operators),
        ):
            for n in range(count):
                user = users[f"{role}{n}@seed.example"]
                assert user.territory_id == n % plan.territories + 1
                assert user.tier == ("pro" if role == "contractor" and n % 5 == 0 else "free")
        hashes = {row.password_hash for row in users.values()}
        assert len(hashes) == 1 and next(iter(hashes)).startswith("scrypt$")
        for n in range(plan.jobs):  # every homeowner n < jobs owns a job
            assert (
                conn.execute(
                    text("SELECT count(*) FROM jobs WHERE homeowner_id = :h"), {"h": n + 1}
                ).scalar_one()
                >= 1
            )
        for n in range(plan.jobs // 2):  # low n: an open job with active bids, and a thread
            open_with_bids = conn.execute(
                text(
                    "SELECT count(*) FROM jobs JOIN bids ON bids.job_id = jobs.id "
                    "WHERE jobs.homeowner_id = :h AND jobs.status = 'open' "
                    "AND bids.status = 'active'"
                ),
                {"h": n + 1},
            ).scalar_one()
            assert open_with_bids > 0
        for n in range(min(plan.jobs, 8)):
            shared = conn.execute(
                text("SELECT count(*) FROM threads WHERE homeowner_id = :h AND contractor_id = :c"),
                {"h": plan.homeowner_id(n), "c": plan.contractor_id(n)},
            ).scalar_one()
            assert shared == 1
    engine.dispose()


def test_refuses_a_seeded_database_unless_reset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    seed_database(url, SMALL_PLAN)
    with pytest.raises(SeedError, match="already has a schema"):
        seed_database(url, SMALL_PLAN)
    report = seed_database(url, SMALL_PLAN, reset=True)
    assert report.rows["users"] == SMALL_PLAN.users


def test_cli_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli_main(["seed", "--database-url", url, "--scale", "0.002", "--seed", "3"]) == 0
    assert "seeded territories 50, users 800" in capsys.readouterr().out
    assert cli_main(["seed", "--database-url", url, "--scale", "0.002"]) == 2
    assert "already has a schema" in capsys.readouterr().err


def test_cli_serve_refuses_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEV_MODE", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")  # serve sets it; monkeypatch restores it
    assert cli_main(["serve", "--port", "0"]) == 2
    assert "Config 'SECRET_KEY' has value None" in capsys.readouterr().err
