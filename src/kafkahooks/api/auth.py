"""Who a request acts as, for which tenant; the request's body and its freshness.

FastAPI dependencies shared by every resource router:

* :func:`principal`: the bearer token → :class:`~kafkahooks.api.tokens.Principal`;
  missing, malformed, unknown, revoked and expired tokens get the same 401;
* :func:`tenant_scope` (``/v1/tenants/{tenant}/…``) and :func:`own_scope` (``/v1/…``,
  a tenant token's own tenant): a tenant token naming another tenant gets 404, as if
  the tenant had nothing — it learns nothing about other tenants;
* :func:`fresh`: honours ``Kafkahooks-Min-Offset`` (waits ≤ 2 s for this replica to
  apply it, else 503 with Retry-After);
* :func:`json_body`: at most 64 KiB (413), JSON (400).
Invariant: an error here never echoes the token or the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Path, Request

from kafkahooks.api.context import ApiContext, context
from kafkahooks.api.errors import ApiError, not_found, unauthorized
from kafkahooks.api.tokens import Principal

__all__ = [
    "MAX_BODY",
    "MIN_OFFSET_HEADER",
    "MIN_OFFSET_WAIT",
    "Scope",
    "fresh",
    "json_body",
    "own_scope",
    "principal",
    "require_admin",
    "tenant_scope",
    "wait_for_offset",
]

MAX_BODY = 64 * 1024
MIN_OFFSET_HEADER = "kafkahooks-min-offset"
MIN_OFFSET_WAIT = 2.0
_TENANT = re.compile(r"[^\x00-\x1f\x7f/]{1,256}")


@dataclass(frozen=True, slots=True)
class Scope:
    """A request's principal and the tenant it acts on."""

    principal: Principal
    tenant: str
    context: ApiContext

    @property
    def token_id(self) -> str:
        return self.principal.token_id


async def principal(request: Request) -> Principal:
    ctx = context(request)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized()
    who = ctx.store.tables.tokens.authenticate(value.strip(), ctx.clock())
    if who is None:
        raise unauthorized()
    request.state.principal = who
    return who


Who = Annotated[Principal, Depends(principal)]


def require_admin(who: Who) -> Principal:
    if not who.admin:
        raise not_found()  # a tenant token does not learn that admin resources exist
    return who


def tenant_scope(
    request: Request,
    who: Who,
    tenant: Annotated[str, Path(description="the tenant (a tenant token: its own only)")],
) -> Scope:
    if not _TENANT.fullmatch(tenant) or (not who.admin and who.tenant != tenant):
        raise not_found()
    return Scope(who, tenant, context(request))


def own_scope(request: Request, who: Who) -> Scope:
    if who.tenant is None:
        raise not_found("an admin token names the tenant: /v1/tenants/{tenant}/…")
    return Scope(who, who.tenant, context(request))


async def wait_for_offset(ctx: ApiContext, offset: int) -> None:
    if not await ctx.store.reached(offset, MIN_OFFSET_WAIT):
        raise ApiError(
            503, "behind",
            f"this replica has not applied store offset {offset} yet; retry",
            headers={"Retry-After": "1"},
        )  # fmt: skip


async def fresh(request: Request) -> None:
    """``Kafkahooks-Min-Offset: N``: answer only once this replica applied offset N."""
    raw = request.headers.get(MIN_OFFSET_HEADER)
    if raw is None:
        return
    if not raw.strip().isdigit():
        raise ApiError(400, "bad_header", "Kafkahooks-Min-Offset must be a store offset")
    await wait_for_offset(context(request), int(raw))


async def json_body(request: Request) -> Any:
    """The request's JSON (``None`` when it has no body)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise _too_large()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise _too_large()
    if not data.strip():
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"the body is over {MAX_BODY // 1024} KiB")
