"""API tokens: ``kht_<id>_<secret>``, checked against SHA-256 hashes, never stored in clear.

An admin token's hash is in the routes file (``api.admin_tokens``); a tenant token's is
a ``token/<id>`` record in the endpoint store, written when an admin token issues it
and rewritten with ``revoked`` set when it is revoked.  Every replica follows the store,
so an issue, a revocation or an expiry reaches each one within its follow delay (the
follower fetches every 100 ms; the README states 2 s).

The secret is 192 random bits: a random secret needs no slow hash, only one that cannot
be reversed (SHA-256), compared in constant time (``hmac.compare_digest``), an unknown
id compared against a dummy so that the time taken says nothing.
Invariant: the secret exists in clear only in the response that issues it; records,
logs and audit records carry the token id only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from kafkahooks.config import AdminToken

__all__ = [
    "TOKEN_PREFIX",
    "IssuedToken",
    "Principal",
    "TenantToken",
    "TokenTable",
    "hash_secret",
    "new_token",
    "token_record",
]

log = logging.getLogger("kafkahooks.api")

TOKEN_PREFIX = "token/"  # store keys of tenant tokens
_SHAPE = re.compile(r"kht_([a-z0-9]{4,32})_([A-Za-z0-9]{32,128})")
_DUMMY = hashlib.sha256(b"kafkahooks: no such token").hexdigest()
_VERSION = "1.0"


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a token's secret part."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``value`` is shown once; ``sha256`` is what is kept."""

    id: str
    value: str
    sha256: str

    def __repr__(self) -> str:
        return f"IssuedToken(id={self.id!r})"


def new_token(token_id: str | None = None) -> IssuedToken:
    """A new ``kht_<id>_<secret>`` (id: 16 hex characters unless given)."""
    tid = token_id or secrets.token_hex(8)
    secret = secrets.token_hex(24)  # 192 bits
    return IssuedToken(tid, f"kht_{tid}_{secret}", hash_secret(secret))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a token id and, for a tenant token, its tenant."""

    token_id: str
    tenant: str | None  # None: an admin token (any tenant)

    @property
    def admin(self) -> bool:
        return self.tenant is None


@dataclass(frozen=True, slots=True)
class TenantToken:
    """A tenant token as the store holds it (no secret: its hash)."""

    id: str
    tenant: str
    sha256: str
    created: float
    expires: float | None = None
    revoked: float | None = None
    description: str = ""
    offset: int = -1

    def __repr__(self) -> str:
        return f"TenantToken(id={self.id!r}, tenant={self.tenant!r})"

    def valid(self, now: float) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > now)

    def public(self) -> dict[str, Any]:
        """What the API shows of it: never the hash."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "description": self.description,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
        }


def token_record(token: TenantToken) -> bytes:
    """The store record of ``token`` (key ``token/<id>``)."""
    return orjson.dumps(
        {
            "kind": "token",
            "version": _VERSION,
            "id": token.id,
            "tenant": token.tenant,
            "sha256": token.sha256,
            "created": token.created,
            "expires": token.expires,
            "revoked": token.revoked,
            "description": token.description,
        }
    )


def _parse(key: str, value: bytes, offset: int) -> TenantToken | None:
    try:
        raw = orjson.loads(value)
        if raw.get("kind") != "token" or str(raw.get("version", "")).split(".")[0] != "1":
            return None
        token = TenantToken(
            id=str(raw["id"]),
            tenant=str(raw["tenant"]),
            sha256=str(raw["sha256"]),
            created=float(raw["created"]),
            expires=None if raw.get("expires") is None else float(raw["expires"]),
            revoked=None if raw.get("revoked") is None else float(raw["revoked"]),
            description=str(raw.get("description") or ""),
            offset=offset,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return token if key == TOKEN_PREFIX + token.id else None


class TokenTable:
    """Tenant tokens from the store (``token/<id>`` records, the last one wins) and the
    admin tokens of the configuration; :meth:`authenticate` checks a bearer token."""

    def __init__(self, admin: Iterable[AdminToken] = ()) -> None:
        self._admin = {t.id: t.sha256 for t in admin}
        self._tokens: dict[str, TenantToken] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def apply(self, key: str, value: bytes | None, offset: int) -> bool:
        """Apply one store record (keys other than ``token/…`` are not this table's)."""
        if not key.startswith(TOKEN_PREFIX):
            return False
        tid = key[len(TOKEN_PREFIX) :]
        if value is None:
            with self._lock:
                return self._tokens.pop(tid, None) is not None
        token = _parse(key, value, offset)
        if token is None:
            self.rejected += 1
            log.warning("token record refused", extra={"offset": offset})
            return False
        held = self._tokens.get(tid)
        if held is not None and held.tenant != token.tenant:
            self.rejected += 1  # a token never changes tenant
            log.warning("token record refused (tenant change)", extra={"offset": offset})
            return False
        with self._lock:
            self._tokens[tid] = token
        return True

    def get(self, token_id: str) -> TenantToken | None:
        return self._tokens.get(token_id)

    def for_tenant(self, tenant: str) -> list[TenantToken]:
        with self._lock:
            return sorted((t for t in self._tokens.values() if t.tenant == tenant),
                          key=lambda t: t.id)  # fmt: skip

    def authenticate(self, bearer: str, now: float) -> Principal | None:
        """The principal of a ``kht_<id>_<secret>`` token, or ``None`` for one that is
        malformed, unknown, wrong, revoked or expired (the caller answers all alike)."""
        match = _SHAPE.fullmatch(bearer)
        if match is None:
            return None
        tid, secret = match.groups()
        digest = hash_secret(secret)
        admin = self._admin.get(tid)
        if admin is not None:
            return Principal(tid, None) if hmac.compare_digest(digest, admin) else None
        token = self._tokens.get(tid)
        expected = token.sha256 if token is not None else _DUMMY
        if not hmac.compare_digest(digest, expected) or token is None:
            return None
        return Principal(tid, token.tenant) if token.valid(now) else None
