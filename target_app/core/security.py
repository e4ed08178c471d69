"""Passwords and bearer tokens.

Passwords are hashed with scrypt (``hashlib.scrypt``, memory-hard, in the standard library)
with the scrypt paper's parameters for interactive logins (N=2**14, r=8, p=1: 16 MiB and tens
of milliseconds of CPU per hash; docs/api.md). The cost is deliberate: it is what a real login
costs, and the capacity model must see it. (OWASP's stricter p=5 does five times the work per
login, which would make logins, not the marketplace, the subject of every load test.) The
encoded form carries its parameters, ``scrypt$N$r$p$salt$hash``, so they can be raised later
without invalidating stored hashes.

Tokens are stateless and signed: ``v1.<payload>.<signature>``, the payload a base64url JSON
object ``{"sub", "role", "tier", "tid", "exp"}`` and the signature HMAC-SHA256 over it with
``SECRET_KEY``. Verifying one costs microseconds and no database call, so authentication adds
almost nothing to a request's demand; expiry is checked on every use.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from target_app.core.errors import InvalidToken

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
TOKEN_VERSION = "v1"  # noqa: S105 (a format version, not a secret)
#: Verified tokens remembered per signer (about 200 bytes each): more than the distinct
#: callers one worker sees in a token lifetime at the launch-day peak is not needed, since a
#: miss only costs the full check again.
VERIFIED_CACHE_SIZE = 4096


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash ``password`` with a fresh random salt (or the one given, for reproducible seeds)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a wrong password or a bad hash."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, bytes.fromhex(digest_hex))


#: Verified against when the e-mail is unknown, so a login costs the same either way and
#: response time does not reveal which accounts exist.
DUMMY_HASH = hash_password("not-a-real-password", salt=b"\x00" * 16)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the claims of a verified token."""

    user_id: int
    role: str
    tier: str
    territory_id: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies bearer tokens with one secret key."""

    def __init__(self, secret_key: str, ttl_s: int) -> None:
        self._key = secret_key.encode()
        self.ttl_s = ttl_s
        # Genuine tokens seen recently, with their claims: a client sends the same token with
        # every request, and decoding it (base64, JSON, the principal) costs more than the
        # HMAC. Only verified tokens are stored (exceptions are not cached), the key is the
        # whole token, signature included, and expiry is still checked on every use.
        self._verified = functools.lru_cache(maxsize=VERIFIED_CACHE_SIZE)(self._verify_signed)

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, f"{TOKEN_VERSION}.{payload}".encode(), hashlib.sha256)
        return _b64encode(mac.digest())

    def issue(self, principal: Principal, *, now: float | None = None) -> str:
        """A token for ``principal`` that expires ``ttl_s`` seconds from ``now``."""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        claims = {
            "sub": principal.user_id,
            "role": principal.role,
            "tier": principal.tier,
            "tid": principal.territory_id,
            "exp": expires,
        }
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{TOKEN_VERSION}.{payload}.{self._sign(payload)}"

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        """The principal a genuine, unexpired ``token`` names; `InvalidToken` otherwise."""
        principal, expires = self._verified(token)
        if expires <= (time.time() if now is None else now):
            raise InvalidToken("token expired")
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, int]:
        """The claims of a genuine ``token`` (expired or not); `InvalidToken` otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION:
            raise InvalidToken("malformed token")
        _, payload, signature = parts
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidToken("bad signature")
        try:
            claims = json.loads(_b64decode(payload))
            principal = Principal(
                user_id=int(claims["sub"]),
                role=str(claims["role"]),
                tier=str(claims["tier"]),
                territory_id=int(claims["tid"]),
            )
            expires = int(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidToken("malformed claims") from exc
        return principal, expires
