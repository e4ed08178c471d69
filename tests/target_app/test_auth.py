"""Login, tokens and /me."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from target_app.core.errors import InvalidToken
from target_app.core.security import Principal, TokenSigner
from target_app.seed import SEED_PASSWORD, seed_email
from tests.target_app.conftest import SMALL_PLAN, Auth


def test_login_with_a_seeded_account(client: TestClient) -> None:
    response = client.post(
        "/auth/login", json={"email": seed_email("contractor", 5), "password": SEED_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["user"] == {
        "id": SMALL_PLAN.contractor_id(5),
        "role": "contractor",
        "tier": "pro",
        "territory_id": SMALL_PLAN.territory_of(5),
    }
    me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "contractor5@seed.example"


@pytest.mark.parametrize(
    ("email", "password"),
    [("homeowner0@seed.example", "wrong-password"), ("nobody@seed.example", SEED_PASSWORD)],
)
def test_wrong_credentials_are_401_problem(client: TestClient, email: str, password: str) -> None:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "Wrong e-mail or password."


def test_login_ignores_a_stale_token(client: TestClient) -> None:
    response = client.post(
        "/auth/login",
        json={"email": seed_email("homeowner", 0), "password": SEED_PASSWORD},
        headers={"Authorization": "Bearer v1.expired.token"},
    )
    assert response.status_code == 200


def test_me_requires_a_token(client: TestClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer v1.e30.AAAA", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer v1..."],
)
def test_malformed_or_forged_tokens_are_401(client: TestClient, header: str) -> None:
    assert client.get("/me", headers={"Authorization": header}).status_code == 401


def test_token_signed_with_another_key_is_rejected(client: TestClient) -> None:
    forged = TokenSigner("another-secret-key-that-is-long-enough!", 3600).issue(
        Principal(1, "operator", "free", 1)
    )
    assert client.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_expired_token_is_rejected() -> None:
    signer = TokenSigner("k" * 40, ttl_s=10)
    token = signer.issue(Principal(1, "homeowner", "free", 1), now=1000.0)
    assert signer.verify(token, now=1009.0).user_id == 1
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(token, now=1010.0)


def test_me_returns_own_profile(client: TestClient, auth: Auth) -> None:
    body = client.get("/me", headers=auth("homeowner", 3)).json()
    assert body["id"] == SMALL_PLAN.homeowner_id(3)
    assert body["role"] == "homeowner"
    assert "password_hash" not in body


def test_territories_are_public(client: TestClient) -> None:
    response = client.get("/territories")
    assert response.status_code == 200
    assert [t["id"] for t in response.json()] == list(range(1, SMALL_PLAN.territories + 1))
