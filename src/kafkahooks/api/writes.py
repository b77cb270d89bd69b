"""Every API write, one way: rate limit, audit intent, store write, read back, outcome.

The steps, in order (issue 17, "Consistency" and "Audit"):

1. the token's write rate on this replica (429 + Retry-After);
2. the audit intent, acknowledged by the broker (else 503: nothing is written);
3. the store record, acknowledged (``acks=all``) and applied by this replica's
   follower (else 503: it may or may not be written; a create is safe to retry with
   its ``Idempotency-Key``);
4. for a conditional record, the revision rule's verdict: the write won only if the
   table's ``offset_of(key)`` is the offset written (otherwise every replica ignores
   it: 409, nothing changed) — the rule the operator's CLI applies too
   (``docs/endpoints.md``, "Conflicting writes");
5. the audit outcome with the store offset.
Invariant: no answer claims a change this replica has not applied.
"""

from __future__ import annotations

from collections.abc import Callable

from kafkahooks.api.audit import Audit, AuditUnavailableError
from kafkahooks.api.auth import Scope
from kafkahooks.api.errors import ApiError, conflict
from kafkahooks.endpoints import recover_key, status_key
from kafkahooks.kafka import StoreWriteError

__all__ = [
    "CONFLICT",
    "check_rate",
    "delete_records",
    "record_intent",
    "settle",
    "store_write",
    "write_record",
]

CONFLICT = "the endpoint was changed by someone else; nothing was changed (read it again)"


def check_rate(scope: Scope) -> None:
    wait = scope.context.limiter.take(scope.token_id)
    if wait > 0:
        raise ApiError(
            429, "rate_limited", "too many writes for this token; retry later",
            headers={"Retry-After": scope.context.limiter.retry_after(wait)},
        )  # fmt: skip


async def record_intent(scope: Scope, audit: Audit) -> None:
    """Step 2: the audit intent, acknowledged, or 503 (nothing is written)."""
    try:
        await scope.context.audit.intent(audit)
    except AuditUnavailableError:
        raise ApiError(
            503, "audit_unavailable",
            "the audit trail cannot be written now; nothing was changed",
            headers={"Retry-After": "1"},
        ) from None  # fmt: skip


async def store_write(scope: Scope, audit: Audit, key: str, value: bytes | None) -> int:
    """Step 3: one store record, acknowledged and applied here, or 503."""
    ctx = scope.context
    try:
        return await ctx.store.write(key, value)
    except (StoreWriteError, TimeoutError):
        ctx.audit.outcome(audit, "unknown", None)
        raise ApiError(
            503, "store_unavailable",
            "the store did not confirm the write in time; it may or may not be made "
            "(read it again, or repeat a create with the same Idempotency-Key)",
            headers={"Retry-After": "1"},
        ) from None  # fmt: skip


def settle(scope: Scope, audit: Audit, offset: int, won: Callable[[int], bool] | None) -> int:
    """Steps 4 and 5: 409 if a conditional record lost; the outcome either way."""
    if won is not None and not won(offset):
        scope.context.audit.outcome(audit, "conflict", offset)
        raise conflict(CONFLICT)
    scope.context.audit.outcome(audit, "applied", offset)
    return offset


async def write_record(
    scope: Scope,
    audit: Audit,
    key: str,
    value: bytes | None,
    *,
    won: Callable[[int], bool] | None = None,
) -> int:
    """Write ``key`` through the steps above; its store offset.  ``won(offset)``: whether
    a conditional record is the one in force (``None``: it always applies)."""
    await record_intent(scope, audit)
    offset = await store_write(scope, audit, key, value)
    return settle(scope, audit, offset, won)


async def delete_records(scope: Scope, audit: Audit, endpoint_id: str) -> int:
    """Delete an endpoint through the steps above: its record's tombstone, then the
    tombstones of the records kafkahooks keeps about it (its health status, as
    ``kafkahooks endpoints delete`` does, and its recover job), so none outlives it
    (every replica ignores them once the endpoint is gone; the tombstones let the
    store forget them).  The endpoint's tombstone's offset."""
    await record_intent(scope, audit)
    offset = await store_write(scope, audit, endpoint_id, None)
    for key in related_keys(endpoint_id):
        await store_write(scope, audit, key, None)
    return settle(scope, audit, offset, None)


def related_keys(endpoint_id: str) -> tuple[str, ...]:
    """The store keys of kafkahooks' own records about an endpoint."""
    return (status_key(endpoint_id), recover_key(endpoint_id))
