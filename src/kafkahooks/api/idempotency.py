"""``Idempotency-Key`` for creates: the first answer, kept in the store for 24 h.

Replicas keep no durable state, so the key's state is a store record,
``idem/<sha256(tenant, key)>``, read by every replica as it follows the store:

1. **claim** (before the endpoint is written): the body's hash, the endpoint id
   chosen for it and the time; written with the store's revision rule (``revision``:
   the offset of the record it replaces, -1 for none), so of two concurrent claims one
   wins and the other learns it on reading back;
2. **done** (after the endpoint was written): the whole first answer, secret included,
   sealed (AES-256-GCM under the store's keys, bound to the record key and tenant).

A repeat with the same key and body answers the done record's response; with a claim
only, the endpoint it names (its current secret) if it exists, 409 while the claim is
fresh (another request is creating it) and a new claim when it is stale (its request
failed: the claimant tombstones its claim when it can).  Another body → 422.
Invariant: a signing secret is never in a record in clear; records expire after
``idempotency_hours`` (readers ignore them; they are tombstoned when next claimed).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from kafkahooks.endpoints import Keyring, Sealed

__all__ = ["IDEMPOTENCY_PREFIX", "Claim", "IdempotencyTable", "body_hash", "idempotency_key"]

log = logging.getLogger("kafkahooks.api")

IDEMPOTENCY_PREFIX = "idem/"
STALE_CLAIM = 30.0  # seconds: a claim without its endpoint after this failed


def idempotency_key(tenant: str, key: str) -> str:
    """The store key of ``key`` sent for ``tenant``."""
    digest = hashlib.sha256(f"{tenant}\x00{key}".encode()).hexdigest()
    return IDEMPOTENCY_PREFIX + digest


def body_hash(data: Any) -> str:
    """The hash of a request body as parsed (key order does not matter)."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _field(tenant: str) -> str:
    return f"idempotent-response\x00{tenant}"


@dataclass(frozen=True, slots=True)
class Claim:
    """One key's state: who claimed it for which body and endpoint, and the answer."""

    key: str
    tenant: str
    body: str
    endpoint_id: str
    at: float
    expires: float
    response: Sealed | None
    offset: int

    def __repr__(self) -> str:
        return f"Claim(endpoint_id={self.endpoint_id!r}, offset={self.offset})"


class IdempotencyTable:
    """The ``idem/…`` records of the store (revision rule as for endpoints)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._claims: dict[str, Claim] = {}
        self._offsets: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- records ------------------------------------------------------------------------

    def claim_record(
        self, key: str, tenant: str, body: str, endpoint_id: str, now: float, ttl: float
    ) -> bytes:
        return self._record(key, tenant, body, endpoint_id, now, now + ttl, None)

    def done_record(self, claim: Claim, response: dict[str, Any]) -> bytes:
        sealed = self._keyring.seal(
            claim.key, _field(claim.tenant), orjson.dumps(response).decode()
        )
        return self._record(
            claim.key, claim.tenant, claim.body, claim.endpoint_id, claim.at, claim.expires,
            sealed, revision=claim.offset,
        )  # fmt: skip

    def _record(
        self, key: str, tenant: str, body: str, endpoint_id: str, at: float, expires: float,
        response: Sealed | None, *, revision: int | None = None,
    ) -> bytes:  # fmt: skip
        return orjson.dumps(
            {
                "kind": "idempotency", "version": "1.0", "tenant": tenant, "body": body,
                "endpoint_id": endpoint_id, "at": at, "expires": expires,
                "response": response,
                "revision": self.offset_of(key) if revision is None else revision,
            }
        )  # fmt: skip

    def response(self, claim: Claim) -> dict[str, Any] | None:
        """The first answer a done record holds (decrypted), or ``None``."""
        if claim.response is None:
            return None
        try:
            data: dict[str, Any] = orjson.loads(
                self._keyring.open(claim.key, _field(claim.tenant), claim.response)
            )
        except Exception:  # a key removed since: answer as if only claimed
            log.warning("idempotent response cannot be opened", extra={"offset": claim.offset})
            return None
        return data

    # -- reading --------------------------------------------------------------------------

    def get(self, key: str, now: float) -> Claim | None:
        claim = self._claims.get(key)
        return claim if claim is not None and claim.expires > now else None

    def offset_of(self, key: str) -> int:
        return self._offsets.get(key, -1)

    # -- applying (the store follower) ----------------------------------------------------

    def apply(self, key: str, value: bytes | None, offset: int) -> bool:
        if not key.startswith(IDEMPOTENCY_PREFIX):
            return False
        if value is None:
            with self._lock:
                self._claims.pop(key, None)
                self._offsets.pop(key, None)
            return True
        try:
            raw = orjson.loads(value)
            if raw["revision"] != self.offset_of(key):
                return False  # lost a race, as an endpoint record would
            claim = Claim(
                key, str(raw["tenant"]), str(raw["body"]), str(raw["endpoint_id"]),
                float(raw["at"]), float(raw["expires"]), raw.get("response"), offset,
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("idempotency record refused", extra={"offset": offset})
            return False
        with self._lock:
            self._claims[key] = claim
            self._offsets[key] = offset
        return True
