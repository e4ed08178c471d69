"""Real, short headless Locust runs of journeys/locustfile.py against a real service.

Each run is under 30 s of load: the scenarios are compressed with JOURNEYS_TIME_SCALE and the
think times shortened with JOURNEYS_THINK_SCALE, so that a handful of users open enough screens.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from journeys.accounts import client_address
from journeys.hdr import HistogramSet
from journeys.run import read_histograms
from journeys.writelog import read_write_log
from models.catalogue import LOGIN_CALLS, PERSONAS, STEPS, WriteKind
from tests.conftest import BESIDE_GROUP
from tests.journeys.conftest import LocustRun, Service, run_locust

# Slow, but beside the serial slow group (tests/conftest.py, BESIDE_GROUP): they
# check splits, counts, labels and the write log, never latency, so another load run on the
# cores costs them time, not correctness.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(BESIDE_GROUP)]

CATALOGUE = {(p, s.name): s.calls for p in PERSONAS for s in STEPS[p]}


LOCUST_DEFAULT_MASTER_PORT = 5557


@contextmanager
def _holding(port: int) -> Iterator[None]:
    """Keep ``port`` taken for the block (already taken by someone else is as good)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with contextlib.suppress(OSError):
            sock.bind(("0.0.0.0", port))  # every address, as Locust's master binds
            sock.listen()
        yield


def _assert_clean(run: LocustRun) -> None:
    assert "Traceback" not in run.output, run.output[-3000:]
    assert run.returncode == 0, run.output[-3000:]


def _assert_steps_follow_the_catalogue(run: LocustRun) -> None:
    for entry in run.trace:
        key = (entry["persona"], entry["step"])
        if entry["step"] == "login":
            assert tuple(entry["calls"]) == LOGIN_CALLS, entry
        elif entry["outcome"] == "ok":
            assert tuple(entry["calls"]) == CATALOGUE[key], entry


def _assert_hdr_agrees_with_locust(run: LocustRun, histograms: HistogramSet) -> None:
    """Every sample Locust counted is in our histograms, no more, no less."""
    ours: Counter[tuple[str, str]] = Counter()
    for stage, method, name in histograms:
        ours[(method, name)] += histograms.summary(stage, method, name).count
    theirs = Counter({(e["method"], e["name"]): e["num_requests"] for e in run.stats})
    assert ours == theirs


def test_smoke_every_persona_logs_in_and_completes_journeys(
    service: Service, tmp_path: Path
) -> None:
    # 9 s of smoke; the one operator thinks 0.75 s instead of 2.25 s on average, so that it
    # opens enough screens in that time (8 measured here, 3 needed; 4 at 2.25 s).
    profile = tmp_path / "quick-operator.toml"
    profile.write_text("[personas.operator]\nthink_time_s = 15.0\n")
    run = run_locust(
        tmp_path, service.url, [],
        env={"JOURNEYS_SCENARIO": "smoke", "JOURNEYS_TIME_SCALE": "0.15",
             "JOURNEYS_THINK_SCALE": "0.05", "JOURNEYS_PROFILE": str(profile)},
    )  # fmt: skip
    _assert_clean(run)
    histograms, meta = read_histograms(run.hdr_path)
    assert meta["completeness"]["complete"]

    by_persona: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in run.trace:
        by_persona[entry["persona"]][entry["outcome"]] += 1
        assert entry["outcome"] != "failed", entry
    logins = Counter(e["persona"] for e in run.trace if e["step"] == "login")
    assert logins == {"homeowner": 6, "contractor": 3, "operator": 1}  # smoke: 10 users
    for persona in PERSONAS:
        screens = [e for e in run.trace if e["persona"] == persona and e["step"] != "login"]
        assert len(screens) >= 3, (persona, by_persona[persona])
    _assert_steps_follow_the_catalogue(run)

    # Zero failures anywhere, and one PAGE sample per screen opened, named persona.step.
    assert all(histograms.failures(*key) == 0 for key in histograms)
    pages = Counter(name for _, method, name in histograms if method == "PAGE")
    assert {name.split(".")[0] for name in pages} == set(PERSONAS)
    page_samples = sum(histograms.summary(*k).count for k in histograms if k[1] == "PAGE")
    assert page_samples == len(run.trace)
    assert histograms.stages() == [0]  # smoke has one stage
    _assert_hdr_agrees_with_locust(run, histograms)
    # Requests are named by route template, never by raw URL.
    api_names = [name for _, method, name in histograms if method != "PAGE"]
    assert all("{" in name or not any(c.isdigit() for c in name) for name in api_names)


WRITE_HEAVY = """
[business]
write_fraction = 0.4
awards_per_job = 1.0
withdrawals_per_bid = 0.5

[personas.operator]
think_time_s = 5.0  # the one operator opens ~50 screens, so each of its three shows up
"""


def _snapshot(database: Path) -> dict[str, set[int]]:
    with sqlite3.connect(database) as db:
        return {
            "job": {r[0] for r in db.execute("SELECT id FROM jobs")},
            "bid": {r[0] for r in db.execute("SELECT id FROM bids")},
            "message": {r[0] for r in db.execute("SELECT id FROM messages")},
            "award": {r[0] for r in db.execute("SELECT id FROM bids WHERE status = 'accepted'")},
            "withdrawal": {
                r[0] for r in db.execute("SELECT id FROM bids WHERE status = 'withdrawn'")
            },
        }


@dataclass
class SwarmRun:
    """A Locust run, and the service's rows of each kind just before it and just after it."""

    run: LocustRun
    before: dict[str, set[int]]
    after: dict[str, set[int]]


@pytest.fixture(scope="module")
def twenty_users_two_workers(
    service: Service, tmp_path_factory: pytest.TempPathFactory
) -> SwarmRun:
    """20 users for 15 s through a master and two worker processes, with a write-heavy profile.

    One run for two tests (each cost ~15 s with a run of its own): how the users are split
    across the workers, and whether the write log the workers ship to the master matches the
    database.
    """
    tmp_path = tmp_path_factory.mktemp("twenty-users")
    profile = tmp_path / "write-heavy.toml"
    profile.write_text(WRITE_HEAVY)
    before = _snapshot(service.database)
    # --stop-timeout: at the 15 s limit each user finishes the screen it is in, as the harness
    # stops a run. Without it Locust kills users mid-request, and a write the service committed
    # can go unlogged (seen once in CI: one job in the database that no record named).
    run = run_locust(
        tmp_path, service.url,
        ["-u", "20", "-r", "20", "-t", "15s", "--stop-timeout", "10", "--processes", "2"],
        env={"JOURNEYS_PROFILE": str(profile), "JOURNEYS_THINK_SCALE": "0.05"},
    )  # fmt: skip
    return SwarmRun(run, before, _snapshot(service.database))


def test_twenty_users_split_12_7_1_with_distinct_accounts_across_two_workers(
    twenty_users_two_workers: SwarmRun,
) -> None:
    run = twenty_users_two_workers.run
    _assert_clean(run)
    logins = [e for e in run.trace if e["step"] == "login"]
    assert all(e["outcome"] == "ok" for e in logins)
    assert Counter(e["persona"] for e in logins) == {
        "homeowner": 12,
        "contractor": 7,
        "operator": 1,
    }
    accounts = [e["account"] for e in logins]
    assert len(set(accounts)) == 20, accounts  # distinct across both worker processes
    assert {e["worker"] for e in logins} == {0, 1}

    histograms, meta = read_histograms(run.hdr_path)
    completeness = meta["completeness"]
    assert completeness["complete"], completeness
    assert len(completeness["workers"]) == 2
    _assert_hdr_agrees_with_locust(run, histograms)  # merged exactly on the master
    _assert_steps_follow_the_catalogue(run)


def test_write_log_matches_the_database(twenty_users_two_workers: SwarmRun) -> None:
    run = twenty_users_two_workers.run
    before, after = twenty_users_two_workers.before, twenty_users_two_workers.after
    _assert_clean(run)
    records = read_write_log(run.write_log)
    logged: dict[str, list[int]] = defaultdict(list)
    assert [r for r in records if not r.acknowledged] == [], "a clean run has no 5xx writes"
    assert {r.worker for r in records} == {0, 1}  # shipped by both workers, written by the master
    for record in records:
        assert record.id is not None
        logged[record.kind.value].append(record.id)

    for kind in WriteKind:
        ids = logged[kind.value]
        assert len(ids) == len(set(ids)), f"{kind}: an id logged twice"
        created = after[kind.value] - before[kind.value]
        # lost: acknowledged but not in the database; unexpected: in it but never acknowledged.
        assert set(ids) - after[kind.value] == set(), f"{kind}: lost writes"
        assert created == set(ids), f"{kind}: database and log disagree"
    assert len(logged["job"]) > 0 and len(logged["bid"]) > 0 and len(logged["message"]) > 0

    # Every screen, writes included, ran at least once and made exactly the catalogue's calls.
    completed = {(e["persona"], e["step"]) for e in run.trace if e["outcome"] == "ok"}
    assert set(CATALOGUE) <= completed, set(CATALOGUE) - completed
    _assert_steps_follow_the_catalogue(run)
    assert all(e["outcome"] != "failed" for e in run.trace)


def test_step_shape_labels_samples_by_stage_and_merges_across_workers(
    service: Service, tmp_path: Path
) -> None:
    """The step scenario (compressed to 15 s) through a master and two worker processes, with
    Locust's default master port taken, as another checkout's run on the machine may take it."""
    with _holding(LOCUST_DEFAULT_MASTER_PORT):
        run = run_locust(
            tmp_path, service.url, ["--processes", "2"],
            env={"JOURNEYS_SCENARIO": "step", "JOURNEYS_SCALE": "0.2",
                 "JOURNEYS_TIME_SCALE": "0.05", "JOURNEYS_THINK_SCALE": "0.05"},
        )  # fmt: skip
    _assert_clean(run)
    histograms, meta = read_histograms(run.hdr_path)
    assert meta["completeness"]["complete"], meta["completeness"]  # the drain brought the tail
    assert histograms.stages() == [0, 1, 2, 3, 4]
    # Users 2, 5, 10, 20, 40: each stage's traffic grows with its users.
    counts = [
        sum(
            histograms.summary(*key).count for key in histograms if key[0] == s and key[1] != "PAGE"
        )
        for s in histograms.stages()
    ]
    assert counts == sorted(counts) and counts[-1] > 5 * counts[0]
    _assert_hdr_agrees_with_locust(run, histograms)


# A real HTTP server that rate-limits everything, and writes down what each request carried
# (request line, X-Forwarded-For, body) as one JSON line in the file named by its 2nd argument.
# It keeps the test independent of the bundled service's thresholds.
ALWAYS_429 = r"""
import asyncio, json, sys
BODY = b'{"type":"about:blank","title":"Too Many Requests","status":429}'
RESPONSE = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
            b"Content-Type: application/problem+json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
LOG = open(sys.argv[2], "a", buffering=1)
class Limited(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                return  # the body is still on its way
            body, self.buffer = rest[:length], rest[length:]
            LOG.write(json.dumps({"request": lines[0], "body": body.decode("latin-1"),
                                  "forwarded_for": headers.get("x-forwarded-for")}) + "\n")
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Limited, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
"""


def test_429s_are_failures_of_their_own_kind(tmp_path: Path) -> None:
    """Also what went out on the wire: each user keeps its one account and its own address."""
    seen = tmp_path / "requests.jsonl"
    server = subprocess.Popen(
        [sys.executable, "-c", ALWAYS_429, "60", str(seen)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        run = run_locust(
            tmp_path, url, ["-u", "2", "-r", "2", "-t", "4s"],
            env={"JOURNEYS_THINK_SCALE": "0.01"}, json_stats=False,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
    assert "Traceback" not in run.output
    assert run.returncode == 1  # Locust's own exit code when anything failed
    assert "429 Too Many Requests (rate limited)" in run.output  # its own failures-table line
    histograms, _ = read_histograms(run.hdr_path)
    logins = histograms.summarize(k for k in histograms if k[1:] == ("POST", "/auth/login"))
    assert logins.count > 0
    assert logins.rate_limited == logins.failures == logins.count
    pages = histograms.summarize(k for k in histograms if k[1] == "PAGE")
    assert pages.failures == pages.count > 0  # a login page whose call failed failed too
    assert pages.rate_limited == 0  # pages fail; only calls are rate limited

    # Every login attempt (each user retries after each 429) carried the account's own
    # X-Forwarded-For, and a user that retries keeps its account instead of taking the next.
    requests = [json.loads(line) for line in seen.read_text().splitlines()]
    attempts = [r for r in requests if r["request"].startswith("POST /auth/login ")]
    assert len(attempts) >= logins.count > 2  # retried (the server may log one cut off at stop)
    addresses: dict[str, set[str | None]] = defaultdict(set)
    for attempt in attempts:
        addresses[json.loads(attempt["body"])["email"]].add(attempt["forwarded_for"])
    assert addresses == {
        "homeowner0@seed.example": {client_address("homeowner", 0)},
        "contractor0@seed.example": {client_address("contractor", 0)},
    }
