"""Bad input aimed at the edges: mass assignment, oversized bodies, page sizes, search syntax,
and tokens that are expired, tampered with or belong to a deleted account. On both backends.

Each case states the exact status the service documents (docs/api.md) and, for writes that
must be refused, that the database is unchanged afterwards. The outcomes go to
docs/reliability.md (see ``tests/security/conftest.py``).
"""

from __future__ import annotations

import base64
import json
import re
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert

from target_app.core.security import Principal, TokenSigner
from target_app.middleware import MAX_BODY_BYTES
from target_app.models import User
from tests.security.conftest import (
    NEW_JOB,
    Actors,
    World,
    make_world,
    record_outcome,
    table_fingerprint,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def world(security_client: TestClient, actors: Actors) -> World:
    """A fresh open job of ``owner`` with ``bidder``'s active bid, thread and message."""
    return make_world(security_client, actors)


def _refused(
    client: TestClient,
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    expected: int,
    area: str,
    backend: str,
    **kwargs: object,
) -> None:
    """Send; assert the status is ``expected`` and that no table changed."""
    engine = app.state.target_app.db.engine
    before = table_fingerprint(engine)
    response = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    label = _label(method, path, kwargs.get("json"))
    record_outcome(area, label, expected, response.status_code, backend)
    assert response.status_code == expected, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert table_fingerprint(engine) == before, f"{label}: refused but the data changed"


def _label(method: str, path: str, body: object) -> str:
    """The case as the table shows it: ids as ``{id}``, only the body fields of interest."""
    text = f"{method} {re.sub(r'/[0-9]+', '/{id}', path)}"
    if isinstance(body, dict):
        shown = {
            key: "{id}" if key.endswith("id") else value
            for key, value in body.items()
            if NEW_JOB.get(key) != value
        }
        text += f" {json.dumps(shown)}"
    return text


# --- mass assignment -----------------------------------------------------------------------

SMUGGLED_JOB_FIELDS = [
    {"status": "awarded"},
    {"homeowner_id": 3},
    {"territory_id": 2},
    {"awarded_bid_id": 1},
    {"id": 1},
    {"created_at": "2020-01-01T00:00:00Z"},
    {"bid_count": 99},
]


@pytest.mark.parametrize("smuggled", SMUGGLED_JOB_FIELDS, ids=lambda f: next(iter(f)))
def test_job_create_refuses_fields_a_client_may_not_set(
    smuggled: dict[str, object],
    security_client: TestClient,
    security_app: FastAPI,
    actors: Actors,
    backend: str,
) -> None:
    _refused(
        security_client, security_app, "POST", "/jobs", actors("owner"), 422,
        "mass assignment", backend, json=NEW_JOB | smuggled,
    )  # fmt: skip


@pytest.mark.parametrize(
    "smuggled",
    [{"status": "awarded"}, {"status": "open"}, *SMUGGLED_JOB_FIELDS[1:]],
    ids=lambda f: f"{next(iter(f))}={next(iter(f.values()))}",
)
def test_job_update_refuses_fields_a_client_may_not_set(
    smuggled: dict[str, object],
    world: World,
    security_client: TestClient,
    security_app: FastAPI,
    actors: Actors,
    backend: str,
) -> None:
    _refused(
        security_client, security_app, "PATCH", f"/jobs/{world.job_id}", actors("owner"), 422,
        "mass assignment", backend, json=smuggled,
    )  # fmt: skip


def test_bid_and_message_bodies_refuse_owner_and_status_fields(
    world: World,
    security_client: TestClient,
    security_app: FastAPI,
    actors: Actors,
    backend: str,
) -> None:
    cases = [
        ("POST", f"/jobs/{world.job_id}/bids", "pro", {"amount": 5, "status": "accepted"}),
        ("POST", f"/jobs/{world.job_id}/bids", "pro", {"amount": 5, "contractor_id": 1}),
        ("PATCH", f"/bids/{world.bid_id}", "bidder", {"status": "accepted"}),
        ("PATCH", f"/bids/{world.bid_id}", "bidder", {"job_id": 1}),
        ("POST", f"/jobs/{world.job_id}/award", "owner", {"bid_id": world.bid_id, "amount": 1}),
        ("POST", f"/threads/{world.thread_id}/messages", "bidder", {"body": "x", "sender_id": 1}),
        ("POST", "/threads", "bidder", {"job_id": world.job_id, "homeowner_id": 3}),
    ]
    for method, path, actor, body in cases:
        _refused(
            security_client, security_app, method, path, actors(actor), 422,
            "mass assignment", backend, json=body,
        )  # fmt: skip


def test_nothing_changes_after_the_award(
    world: World,
    security_client: TestClient,
    security_app: FastAPI,
    actors: Actors,
    backend: str,
) -> None:
    award = security_client.post(
        f"/jobs/{world.job_id}/award", json={"bid_id": world.bid_id}, headers=actors("owner")
    )
    assert award.status_code == 200, award.text
    after_award = [
        ("PATCH", f"/jobs/{world.job_id}", "owner", {"budget": 1}),
        ("PATCH", f"/jobs/{world.job_id}", "owner", {"status": "closed"}),
        ("PATCH", f"/bids/{world.bid_id}", "bidder", {"amount": 1}),
        ("DELETE", f"/bids/{world.bid_id}", "bidder", None),
        ("POST", f"/jobs/{world.job_id}/award", "owner", {"bid_id": world.bid_id}),
        ("POST", f"/jobs/{world.job_id}/bids", "pro", {"amount": 1}),
    ]
    for method, path, actor, body in after_award:
        _refused(
            security_client, security_app, method, path, actors(actor), 409,
            "after award", backend, json=body,
        )  # fmt: skip
    job = security_client.get(f"/jobs/{world.job_id}", headers=actors("owner")).json()
    assert (job["status"], job["awarded_bid_id"], job["budget"]) == (
        "awarded", world.bid_id, NEW_JOB["budget"],
    )  # fmt: skip


# --- oversized bodies ------------------------------------------------------------------------

BODY_ROUTES = [
    ("POST", "/auth/login", "anonymous"),
    ("POST", "/jobs", "owner"),
    ("PATCH", "/jobs/{job_id}", "owner"),
    ("POST", "/jobs/{job_id}/award", "owner"),
    ("POST", "/jobs/{job_id}/bids", "pro"),
    ("PATCH", "/bids/{bid_id}", "bidder"),
    ("POST", "/threads", "bidder"),
    ("POST", "/threads/{thread_id}/messages", "bidder"),
]


@pytest.mark.parametrize(("method", "template", "actor"), BODY_ROUTES)
def test_bodies_over_1_mib_are_413(
    method: str,
    template: str,
    actor: str,
    world: World,
    security_client: TestClient,
    security_app: FastAPI,
    actors: Actors,
    backend: str,
) -> None:
    big = json.dumps({"body": "x" * (MAX_BODY_BYTES + 1)})
    headers = actors(actor) | {"Content-Type": "application/json"}
    _refused(
        security_client, security_app, method, world.path(template), headers, 413,
        "oversized body", backend, content=big,
    )  # fmt: skip

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    _refused(
        security_client, security_app, method, world.path(template), headers, 413,
        "oversized body (chunked)", backend, content=chunks(),
    )  # fmt: skip


# --- page sizes and cursors ------------------------------------------------------------------

LIST_ROUTES = [
    ("/jobs", "owner"),
    ("/jobs/{job_id}/bids", "owner"),
    ("/me/bids", "bidder"),
    ("/threads", "owner"),
    ("/threads/{thread_id}/messages", "owner"),
    ("/contractors", "owner"),
]
BAD_PAGE_SIZES = ["0", "-1", "101", "1000000", str(2**64), "1e3", "ten", "", "1.5", "0x10"]


@pytest.mark.parametrize(("template", "actor"), LIST_ROUTES)
def test_page_size_abuse_is_422_and_the_maximum_is_honoured(
    template: str, actor: str, world: World, security_client: TestClient, actors: Actors,
    backend: str,
) -> None:  # fmt: skip
    path = world.path(template)
    for size in BAD_PAGE_SIZES:
        response = security_client.get(path, params={"page_size": size}, headers=actors(actor))
        record_outcome("page size", f"{template}?page_size={size!r}", 422,
                       response.status_code, backend)  # fmt: skip
        assert response.status_code == 422, (size, response.text)
    response = security_client.get(path, params={"page_size": 100}, headers=actors(actor))
    assert response.status_code == 200
    assert len(response.json()["items"]) <= 100
    for cursor, expected in [("!!!", 400), ("W10", 400), ("x" * 201, 422), ("e30", 400)]:
        response = security_client.get(path, params={"cursor": cursor}, headers=actors(actor))
        record_outcome("cursor", f"{template}?cursor={cursor[:12]!r}", expected,
                       response.status_code, backend)  # fmt: skip
        assert response.status_code == expected, (cursor, response.text)


def test_page_size_100_across_all_pages_terminates(
    security_client: TestClient, actors: Actors
) -> None:
    seen: list[int] = []
    params: dict[str, object] = {"page_size": 100, "status": "open"}
    for _ in range(50):  # bounded: the seeded board has far fewer than 5,000 open jobs
        page = security_client.get("/jobs", params=params, headers=actors("owner")).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    else:
        pytest.fail("pagination did not end")
    assert len(seen) == len(set(seen))


# --- full-text search syntax -----------------------------------------------------------------

#: Search syntax of FTS5 and tsquery must arrive as plain words: 200, never 500. A query with
#: no word at all, or over 200 characters, is invalid input: 422 (docs/api.md).
SEARCHES: list[tuple[str, int]] = [
    ('"', 422),
    ('"roof', 200),
    ('roof"', 200),
    ("roof OR plumbing", 200),
    ("roof AND NOT leak", 200),
    ("NEAR(roof leak)", 200),
    ("NEAR(roof leak, 2)", 200),
    ("roof*", 200),
    ("*", 422),
    ("(", 422),
    ("roof (leak", 200),
    ("roof) OR (", 200),
    ("title:roof", 200),
    ("-roof", 200),
    ("^roof", 200),
    ("{title description}: roof", 200),
    ("roof & leak | !paint", 200),
    ("roof:*", 200),
    ("'; DROP TABLE jobs; --", 200),
    ("\x00", 422),
    ("roof\x00leak", 200),
    ("\U0001f6bf shower", 200),
    ("ÄÖÜ straße", 200),
    ("a " * 100, 200),
    ("x" * 200, 200),
    ("x" * 201, 422),
    ("y" * 10_000, 422),
]


@pytest.mark.parametrize(("q", "expected"), SEARCHES, ids=[repr(q[:24]) for q, _ in SEARCHES])
def test_search_syntax_is_never_a_server_error(
    q: str, expected: int, security_client: TestClient, actors: Actors, backend: str
) -> None:
    response = security_client.get("/jobs", params={"q": q}, headers=actors("owner"))
    record_outcome("full-text query", f"q={q[:30]!r}", expected, response.status_code, backend)
    assert response.status_code == expected, response.text


def test_search_operators_are_words_not_operators(
    security_client: TestClient, actors: Actors
) -> None:
    marker = "Zanzibarite tiling"
    job = security_client.post(
        "/jobs", json=NEW_JOB | {"title": marker}, headers=actors("owner")
    ).json()

    def found(q: str) -> bool:
        page = security_client.get("/jobs", params={"q": q, "page_size": 100},
                                   headers=actors("owner")).json()  # fmt: skip
        return job["id"] in {item["id"] for item in page["items"]}

    assert found("zanzibarite")
    assert not found("zanzib*")  # `*` is no prefix operator
    assert not found("zanzibarite OR nothingmatchesthis")  # OR is no operator: all words needed


# --- tokens ----------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tampered_tokens(app: FastAPI, principal: Principal) -> dict[str, str]:
    signer: TokenSigner = app.state.target_app.signer
    good = signer.issue(principal)
    version, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    as_operator = _b64(json.dumps(claims | {"role": "operator"}).encode())
    later = _b64(json.dumps(claims | {"exp": claims["exp"] + 10**6}).encode())
    other_key = TokenSigner("another-secret-key-0123456789abcdefghij", 3600).issue(principal)
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    return {
        "expired": signer.issue(principal, now=time.time() - signer.ttl_s - 1),
        "role raised, old signature": f"{version}.{as_operator}.{signature}",
        "expiry extended, old signature": f"{version}.{later}.{signature}",
        "signature altered": f"{version}.{payload}.{flipped}",
        "no signature": f"{version}.{payload}.",
        "other version": f"v2.{payload}.{signature}",
        "signed with another key": other_key,
        "two parts": f"{version}.{payload}",
        "empty": "",
        "10 KB of junk": "x" * 10_000,
        "JWT alg none": "eyJhbGciOiJub25lIn0.eyJzdWIiOjF9.",
    }


def test_bad_tokens_are_401_everywhere_a_token_is_needed(
    security_app: FastAPI, security_client: TestClient, actors: Actors, backend: str
) -> None:
    principal = actors.principals["owner"]
    engine = security_app.state.target_app.db.engine
    before = table_fingerprint(engine)
    for name, token in _tampered_tokens(security_app, principal).items():
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in [("GET", "/me", None), ("GET", "/operator/dashboard", None),
                                   ("POST", "/jobs", NEW_JOB)]:  # fmt: skip
            response = security_client.request(method, path, json=body, headers=headers)
            record_outcome("token", f"{name}: {method} {path}", 401, response.status_code, backend)
            assert response.status_code == 401, (name, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        # Public routes treat a bad token as no token: a stale token must not lock anyone out.
        assert security_client.get("/territories", headers=headers).status_code == 200
    assert table_fingerprint(engine) == before


def test_other_schemes_are_401(security_client: TestClient, actors: Actors) -> None:
    token = actors("owner")["Authorization"].split()[1]
    for value in [f"Basic {token}", f"Token {token}", token, "Bearer", f"Bearer  {token}x"]:
        response = security_client.get("/me", headers={"Authorization": value})
        assert response.status_code == 401, value


def _deleted_account(app: FastAPI, role: str) -> Principal:
    """An account of ``role`` that existed long enough to get a token, then was deleted."""
    engine = app.state.target_app.db.engine
    with engine.begin() as conn:
        user_id = conn.execute(
            insert(User)
            .values(
                email=f"gone-{time.time_ns()}@example.com",
                password_hash="scrypt$1$1$1$00$00",
                display_name="Gone",
                role=role,
                tier="free",
                territory_id=1,
                available=False,
                created_at=datetime.now(UTC),
            )
            .returning(User.id)
        ).scalar_one()
    with engine.begin() as conn:
        conn.execute(delete(User).where(User.id == user_id))
    return Principal(user_id, role, "free", 1)


@pytest.fixture
def deleted_user(security_app: FastAPI) -> Iterator[Principal]:
    """A homeowner account that existed long enough to get a token, then was deleted."""
    yield _deleted_account(security_app, "homeowner")


@pytest.fixture
def deleted_contractor(security_app: FastAPI) -> Iterator[Principal]:
    """A contractor account that existed long enough to get a token, then was deleted."""
    yield _deleted_account(security_app, "contractor")


def test_deleted_users_token_cannot_write_and_is_not_a_500(
    deleted_user: Principal,
    world: World,
    security_app: FastAPI,
    security_client: TestClient,
    backend: str,
) -> None:
    """Regression: a deleted homeowner's live token posting a job was a 500 (FK violation)."""
    token = security_app.state.target_app.signer.issue(deleted_user)
    headers = {"Authorization": f"Bearer {token}"}
    _refused(security_client, security_app, "POST", "/jobs", headers, 409,
             "deleted user", backend, json=NEW_JOB)  # fmt: skip
    _refused(security_client, security_app, "GET", "/me", headers, 404, "deleted user", backend)
    # Someone else's objects stay out of reach exactly as for any other homeowner.
    _refused(security_client, security_app, "PATCH", f"/jobs/{world.job_id}", headers, 403,
             "deleted user", backend, json={"budget": 1})  # fmt: skip
    _refused(security_client, security_app, "GET", f"/threads/{world.thread_id}/messages",
             headers, 404, "deleted user", backend)  # fmt: skip


def test_deleted_contractors_token_opening_a_thread_is_409_not_500(
    deleted_contractor: Principal,
    world: World,
    security_app: FastAPI,
    security_client: TestClient,
    backend: str,
) -> None:
    """Regression: the thread insert failed its foreign key and the lost-race lookup raised."""
    token = security_app.state.target_app.signer.issue(deleted_contractor)
    headers = {"Authorization": f"Bearer {token}"}
    _refused(security_client, security_app, "POST", "/threads", headers, 409,
             "deleted user", backend, json={"job_id": world.job_id})  # fmt: skip
    _refused(security_client, security_app, "POST", f"/jobs/{world.job_id}/bids", headers, 409,
             "deleted user", backend, json={"amount": 5})  # fmt: skip
