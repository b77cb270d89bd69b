"""Portal sessions: a single-use link minted by an admin token, then a 1 h cookie.

Choice: the records live in the endpoint store (``portal/<id>``), like tenant tokens,
so every API replica sees a link's use and a session's end, and nothing is kept on a
replica's disk.  A record holds hashes only (SHA-256 of the link's and the cookie's
random secrets, 192 bits each, compared in constant time), never a secret.

* Minting (``POST /v1/tenants/{tenant}/portal-sessions``, admin) writes an unopened
  record: tenant, the link secret's hash, the link's expiry (10 minutes).
* Opening the link writes the record again with ``opened`` and the hash of a new
  cookie secret.  **The first open wins on every replica**: the table applies an
  "opened" record only over an unopened one, and all replicas apply the store in the
  same order; the opener then checks that the record in force carries *its* cookie
  hash.  A reused link (even raced from two replicas at once) is refused.
* A cookie ``<id>.<secret>`` is a session while its record is opened, not ended, and
  younger than ``session_minutes``; it acts as a tenant token of that tenant would
  (:class:`~kafkahooks.api.tokens.Principal` with the id ``portal_<id>``).
* The CSRF token of a session is HMAC-SHA-256(cookie secret, "csrf"): only a page
  that holds the cookie can compute it, and no record is needed for it.
Invariant: no record, log line or audit record carries a link, a cookie or a CSRF
token; the record's key and the audit's token id are the session id only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from dataclasses import dataclass, replace
from typing import Any

import orjson

from kafkahooks.api.tokens import Principal, hash_secret

__all__ = [
    "PORTAL_PREFIX",
    "PortalSession",
    "PortalSessionTable",
    "csrf_token",
    "new_session",
    "opened",
    "session_record",
]

log = logging.getLogger("kafkahooks.api")

PORTAL_PREFIX = "portal/"
_VERSION = "1.0"
_SHAPE = re.compile(r"([a-f0-9]{16})\.([A-Za-z0-9_-]{32,64})")
_DUMMY = hashlib.sha256(b"kafkahooks: no such portal session").hexdigest()


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A portal session as the store holds it (hashes, never the secrets)."""

    id: str
    tenant: str
    link_sha256: str
    created: float
    link_expires: float
    session_seconds: float
    opened: float | None = None
    cookie_sha256: str | None = None
    ended: float | None = None
    description: str = ""  # the platform's note, e.g. which of its users asked

    def __repr__(self) -> str:
        return f"PortalSession(id={self.id!r}, tenant={self.tenant!r})"

    @property
    def principal(self) -> Principal:
        return Principal(f"portal_{self.id}", self.tenant)

    def live(self, now: float) -> bool:
        return (
            self.opened is not None
            and self.ended is None
            and now < self.opened + self.session_seconds
        )


def session_record(session: PortalSession) -> bytes:
    """The store record of ``session`` (key ``portal/<id>``)."""
    return orjson.dumps({"kind": "portal-session", "version": _VERSION,
                         **{f: getattr(session, f) for f in PortalSession.__slots__}})  # fmt: skip


def new_session(
    tenant: str, now: float, link_seconds: float, session_seconds: float, description: str = ""
) -> tuple[PortalSession, str]:
    """An unopened session and its link secret (``<id>.<secret>``, shown once)."""
    sid, secret = secrets.token_hex(8), secrets.token_urlsafe(24)
    session = PortalSession(
        sid, tenant, hash_secret(secret), now, now + link_seconds, session_seconds,
        description=description,
    )  # fmt: skip
    return session, f"{sid}.{secret}"


def opened(session: PortalSession, now: float) -> tuple[PortalSession, str]:
    """The record that opens ``session`` and its cookie (``<id>.<secret>``)."""
    secret = secrets.token_urlsafe(24)
    return replace(session, opened=now, cookie_sha256=hash_secret(secret)), f"{session.id}.{secret}"


def csrf_token(cookie: str) -> str:
    """The CSRF token of the session whose cookie is ``cookie``."""
    return hmac.new(cookie.encode("ascii"), b"csrf", hashlib.sha256).hexdigest()


def _parse(key: str, value: bytes) -> PortalSession | None:
    try:
        raw: dict[str, Any] = orjson.loads(value)
        if raw.get("kind") != "portal-session" or str(raw.get("version", ""))[:2] != "1.":
            return None
        session = PortalSession(
            id=str(raw["id"]), tenant=str(raw["tenant"]), link_sha256=str(raw["link_sha256"]),
            created=float(raw["created"]), link_expires=float(raw["link_expires"]),
            session_seconds=float(raw["session_seconds"]),
            opened=None if raw.get("opened") is None else float(raw["opened"]),
            cookie_sha256=None if raw.get("cookie_sha256") is None else str(raw["cookie_sha256"]),
            ended=None if raw.get("ended") is None else float(raw["ended"]),
            description=str(raw.get("description") or ""),
        )  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return session if key == PORTAL_PREFIX + session.id else None


class PortalSessionTable:
    """``portal/<id>`` records: first open wins, an opened session only ends."""

    def __init__(self) -> None:
        self._sessions: dict[str, PortalSession] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def apply(self, key: str, value: bytes | None, offset: int) -> bool:
        if not key.startswith(PORTAL_PREFIX):
            return False
        sid = key[len(PORTAL_PREFIX) :]
        if value is None:
            with self._lock:
                return self._sessions.pop(sid, None) is not None
        new = _parse(key, value)
        held = self._sessions.get(sid)
        if new is None or not _follows(held, new):
            self.rejected += 1
            return False
        with self._lock:
            self._sessions[sid] = new
        return True

    def get(self, sid: str) -> PortalSession | None:
        return self._sessions.get(sid)

    def check_link(self, link: str, now: float) -> PortalSession | None:
        """The unopened, unexpired session of ``link``, or ``None`` (unknown, wrong,
        used and expired links are alike to the caller)."""
        found = self._lookup(link, lambda s: s.link_sha256)
        if found is None or found.opened is not None or now >= found.link_expires:
            return None
        return found

    def authenticate(self, cookie: str, now: float) -> PortalSession | None:
        """The live session of ``cookie``, or ``None``."""
        found = self._lookup(cookie, lambda s: s.cookie_sha256 or _DUMMY)
        return found if found is not None and found.live(now) else None

    def _lookup(self, value: str, digest_of: Any) -> PortalSession | None:
        match = _SHAPE.fullmatch(value)
        if match is None:
            return None
        sid, secret = match.groups()
        held = self._sessions.get(sid)
        expected = digest_of(held) if held is not None else _DUMMY
        if not hmac.compare_digest(hash_secret(secret), expected) or held is None:
            return None
        return held


def _follows(held: PortalSession | None, new: PortalSession) -> bool:
    """Whether ``new`` may replace ``held``: a mint over nothing, the first open over an
    unopened record, an end over its own opened record; never a change of tenant."""
    if held is None:
        return new.opened is None and new.ended is None
    if held.tenant != new.tenant or held.link_sha256 != new.link_sha256:
        return False
    if held.opened is None:
        return new.opened is not None and new.ended is None
    return new.cookie_sha256 == held.cookie_sha256 and new.ended is not None
