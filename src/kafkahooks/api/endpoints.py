"""``…/endpoints``: create, list, get, patch, delete, rotate and reveal secrets.

One router per resource module; :func:`endpoints_router` is mounted twice by
``api/app.py``: under ``/v1/tenants/{tenant}`` (any token, a tenant token for its own
tenant) and under ``/v1`` (a tenant token's alias for its own tenant).  Later resources
of an endpoint (attempts, stats, recover, test sends) are routers of their own modules,
mounted the same way, using :func:`tenant_endpoint` to find the endpoint.

Rules kept here: another tenant's endpoint is 404, exactly like a missing one; lists
are ordered by id (ids never change, so an edit or a delete never makes a page repeat
or skip an item); a cursor is sealed under the store's key bound to the tenant and the
filters, so it is opaque and useless elsewhere; ``If-Match`` names a version's store
offset (its ETag) and a stale one answers 412; every write goes through
``api/writes.py``.
The writes are functions of their own (:func:`create_for`, :func:`patch_for`,
:func:`delete_for`, :func:`rotate_for`): the routes and the portal's pages call the
same ones, so a portal session can do exactly what its tenant's token can.
Invariant: a signing secret leaves only in a create's or rotate's answer (and the
admin-only ``GET …/secret``); a secret header's value never leaves.
"""

# no ``from __future__ import annotations``: FastAPI reads the route functions' annotations,
# which name aliases local to endpoints_router()
import base64
import binascii
import bisect
import logging
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from kafkahooks.api.audit import Audit
from kafkahooks.api.auth import Scope, fresh, json_body, wait_for_offset
from kafkahooks.api.context import ApiContext, request_id
from kafkahooks.api.errors import ApiError, JsonAnswer, invalid, not_found, validation_errors
from kafkahooks.api.idempotency import STALE_CLAIM, body_hash, idempotency_key
from kafkahooks.api.models import (
    EndpointCreated,
    EndpointPage,
    EndpointSecrets,
    EndpointView,
    ErrorBody,
    RotateRequest,
    SecretRotated,
    endpoint_view,
)
from kafkahooks.api.targets import url_refusal
from kafkahooks.api.writes import (
    check_rate,
    delete_records,
    record_intent,
    settle,
    store_write,
    write_record,
)
from kafkahooks.endpoints import (
    Endpoint,
    EndpointLimitError,
    EndpointSpec,
    create_endpoint,
    encode_endpoint,
    rotate_secret,
    update_endpoint,
    version_in_force,
    written_in_force,
)

__all__ = [
    "OFFSET_HEADER",
    "create_for",
    "delete_for",
    "endpoint_of_tenant",
    "endpoints_router",
    "patch_for",
    "rotate_for",
    "tenant_endpoint",
]

log = logging.getLogger("kafkahooks.api")

OFFSET_HEADER = "Kafkahooks-Store-Offset"
PAGE_DEFAULT, PAGE_MAX = 50, 100
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 412, 413, 422, 429, 503)
}  # (also puts ErrorBody in the document's components, which other routers refer to)


def _versioned(body: Any, status: int, offset: int, **headers: str) -> JsonAnswer:
    return JsonAnswer(
        body, status_code=status,
        headers={OFFSET_HEADER: str(offset), "ETag": f'"{offset}"', **headers},
    )  # fmt: skip


def endpoint_of_tenant(ctx: ApiContext, tenant: str, endpoint_id: str) -> Endpoint:
    """The endpoint ``endpoint_id`` of ``tenant``, or 404 (another tenant's endpoint is
    not found either).  For the routes and the portal's pages alike."""
    ep = version_in_force(ctx.store.tables.endpoints, endpoint_id)
    if ep is None or ep.tenant != tenant:
        raise not_found(f"no endpoint {endpoint_id}")
    return ep


def tenant_endpoint(scope: Scope, endpoint_id: str) -> Endpoint:
    """The endpoint ``endpoint_id`` of the scope's tenant, or 404."""
    return endpoint_of_tenant(scope.context, scope.tenant, endpoint_id)


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("body", f"give {what} as a JSON object")
    return body


def _spec(scope: Scope, data: dict[str, Any]) -> EndpointSpec:
    if "tenant" in data:
        raise invalid("tenant", "the tenant is the path's (or the token's), never the body's")
    try:
        return EndpointSpec.parse(data, allow_local=scope.context.allow_local)
    except ValidationError as exc:
        raise validation_errors(exc) from None


async def _check_url(scope: Scope, url: str) -> None:
    refusal = await url_refusal(url, scope.context.allow_local, scope.context.resolver)
    if refusal is not None:
        raise invalid("url", refusal, "url_refused")


def _encode(scope: Scope, ep: Endpoint, revision: int) -> bytes:
    try:
        return encode_endpoint(
            ep, scope.context.store.tables.keyring, revision, scope.context.clock()
        )
    except EndpointLimitError as exc:
        raise ApiError(
            422, "limit", str(exc), errors=[{"field": "body", "message": str(exc)}]
        ) from None


def _won(scope: Scope, key: str) -> Callable[[int], bool]:
    table = scope.context.store.tables.endpoints
    return lambda offset: written_in_force(table, key, offset)


async def _current(scope: Scope, endpoint_id: str, if_match: str | None) -> Endpoint:
    """The endpoint's version in force, which ``If-Match`` (when given) must name, or 412.
    A write then names this version's offset as its revision: if anything else is
    written meanwhile, the store's revision rule refuses it (409), so If-Match holds
    even between this check and the write."""
    ep = tenant_endpoint(scope, endpoint_id)
    if if_match is None or if_match.strip() == "*":
        return ep
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiError(400, "bad_header", 'If-Match must be an ETag of this API ("<offset>")')
    wanted = int(text)
    if wanted > scope.context.store.applied:  # an ETag from a replica ahead of this one
        await wait_for_offset(scope.context, wanted)
        ep = tenant_endpoint(scope, endpoint_id)
    if ep.offset != wanted:
        raise ApiError(
            412, "stale", "the endpoint changed since that ETag; read it again",
            headers={"ETag": f'"{ep.offset}"'},
        )  # fmt: skip
    return ep


# -- list cursors ------------------------------------------------------------------------


def _cursor_field(scope: Scope, filters: tuple[Any, ...]) -> str:
    return "cursor\x00" + scope.tenant + "\x00" + orjson.dumps(filters).decode()


def _make_cursor(scope: Scope, filters: tuple[Any, ...], last_id: str) -> str:
    sealed = scope.context.store.tables.keyring.seal(
        "cursor", _cursor_field(scope, filters), last_id
    )
    return base64.urlsafe_b64encode(orjson.dumps(sealed)).decode().rstrip("=")


def _open_cursor(scope: Scope, filters: tuple[Any, ...], cursor: str) -> str:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return scope.context.store.tables.keyring.open("cursor", _cursor_field(scope, filters), raw)
    except (binascii.Error, ValueError, TypeError, KeyError, Exception):
        raise ApiError(400, "bad_cursor", "the cursor is not one this list gave "
                       "(cursors are bound to the tenant and the filters)") from None  # fmt: skip


# -- the routes -------------------------------------------------------------------------


def endpoints_router(scope_of: Callable[..., Scope], *, in_schema: bool = True) -> APIRouter:
    """The endpoint routes, with ``scope_of`` deciding the tenant (see module doc)."""
    router = APIRouter(tags=["endpoints"], include_in_schema=in_schema, responses=_ERRORS)
    ScopeDep = Annotated[Scope, Depends(scope_of)]
    Body = Annotated[Any, Depends(json_body)]
    IfMatch = Annotated[str | None, Header(alias="If-Match")]

    @router.post(
        "/endpoints", status_code=201, response_model=EndpointCreated,
        summary="Register an endpoint (its signing secret is shown this once)",
        dependencies=[Depends(fresh)],
        openapi_extra={"requestBody": _body_schema(EndpointSpec)},
    )  # fmt: skip
    async def create(
        request: Request,
        scope: ScopeDep,
        body: Body,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=255)
        ] = None,
    ) -> Response:
        if idempotency_key is None:
            answer, offset = await create_for(scope, request_id(request), body)
            return _versioned(answer, 201, offset, Location=_location(request, answer["id"]))
        check_rate(scope)
        data = _object(body, "the endpoint")
        spec = _spec(scope, data)
        await _check_url(scope, spec.url)
        audit = Audit(request_id(request), scope.token_id, scope.tenant, "create", None,
                      tuple(sorted(data)))  # fmt: skip
        return await _idempotent_create(scope, audit, spec, data, idempotency_key)

    @router.get("/endpoints", response_model=EndpointPage, summary="List endpoints (by id)",
                dependencies=[Depends(fresh)])  # fmt: skip
    async def list_endpoints(
        scope: ScopeDep,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
        active: bool | None = None,
        event_type: Annotated[str | None, Query(max_length=256)] = None,
    ) -> Response:
        filters = (active, event_type)
        now = scope.context.clock()
        eps = sorted(
            scope.context.store.tables.endpoints.for_tenant(scope.tenant), key=lambda e: e.id
        )
        if active is not None:
            eps = [e for e in eps if e.active == active]
        if event_type is not None:
            eps = [e for e in eps if "*" in e.event_types or event_type in e.event_types]
        start = 0
        if cursor is not None:
            start = bisect.bisect_right([e.id for e in eps], _open_cursor(scope, filters, cursor))
        page = eps[start : start + limit]
        more = start + limit < len(eps)
        next_cursor = _make_cursor(scope, filters, page[-1].id) if more and page else None
        return JsonAnswer({"data": [endpoint_view(e, now) for e in page],
                               "next_cursor": next_cursor})  # fmt: skip

    @router.get("/endpoints/{endpoint_id}", response_model=EndpointView,
                summary="Get one endpoint", dependencies=[Depends(fresh)])  # fmt: skip
    async def get_endpoint(scope: ScopeDep, endpoint_id: str) -> Response:
        ep = tenant_endpoint(scope, endpoint_id)
        return _versioned(endpoint_view(ep, scope.context.clock()), 200, ep.offset)

    @router.patch(
        "/endpoints/{endpoint_id}", response_model=EndpointView,
        summary="Change an endpoint (JSON Merge Patch; null resets or removes)",
        dependencies=[Depends(fresh)],
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}}}}},
    )  # fmt: skip
    async def patch_endpoint(
        request: Request, scope: ScopeDep, endpoint_id: str, body: Body, if_match: IfMatch = None
    ) -> Response:
        view, offset = await patch_for(scope, request_id(request), endpoint_id, body, if_match)
        return _versioned(view, 200, offset)

    @router.delete("/endpoints/{endpoint_id}", status_code=204, summary="Delete an endpoint",
                   dependencies=[Depends(fresh)])  # fmt: skip
    async def delete_endpoint(
        request: Request, scope: ScopeDep, endpoint_id: str, if_match: IfMatch = None
    ) -> Response:
        offset = await delete_for(scope, request_id(request), endpoint_id, if_match)
        return Response(status_code=204, headers={OFFSET_HEADER: str(offset)})

    @router.post(
        "/endpoints/{endpoint_id}/secret/rotate", response_model=SecretRotated,
        summary="New signing secret (shown once); the previous one signs until it expires",
        dependencies=[Depends(fresh)],
        openapi_extra={"requestBody": _body_schema(RotateRequest, required=False)},
    )  # fmt: skip
    async def rotate(
        request: Request, scope: ScopeDep, endpoint_id: str, body: Body, if_match: IfMatch = None
    ) -> Response:
        answer, offset = await rotate_for(scope, request_id(request), endpoint_id, body, if_match)
        return _versioned(answer, 200, offset)

    @router.get("/endpoints/{endpoint_id}/secret", response_model=EndpointSecrets,
                summary="The valid signing secrets (admin tokens only)",
                dependencies=[Depends(fresh)])  # fmt: skip
    async def get_secret(scope: ScopeDep, endpoint_id: str) -> Response:
        ep = tenant_endpoint(scope, endpoint_id)
        if not scope.principal.admin:
            raise ApiError(403, "admin_only", "only an admin token may read a signing secret; "
                           "rotate it to get a new one")  # fmt: skip
        now = scope.context.clock()
        secrets = [{"signing_secret": s.value.get_secret_value(), "expires": s.expires}
                   for s in ep.secrets if s.expires is None or s.expires > now]  # fmt: skip
        return _versioned({"secrets": secrets}, 200, ep.offset)

    return router


# -- the writes (the routes' and the portal's) ------------------------------------------


async def create_for(scope: Scope, rid: str, body: Any) -> tuple[dict[str, Any], int]:
    """Register an endpoint from a create body: (the answer with its signing secret,
    the store offset).  Raises :class:`ApiError` as the route answers."""
    check_rate(scope)
    data = _object(body, "the endpoint")
    spec = _spec(scope, data)
    await _check_url(scope, spec.url)
    ep = _new_endpoint(scope, spec)
    audit = Audit(rid, scope.token_id, scope.tenant, "create", ep.id, tuple(sorted(data)))
    offset = await write_record(scope, audit, ep.id, _encode(scope, ep, -1), won=_won(scope, ep.id))
    return _created(scope, ep.id, ep), offset


async def patch_for(
    scope: Scope, rid: str, endpoint_id: str, body: Any, if_match: str | None
) -> tuple[dict[str, Any], int]:
    """Apply a JSON merge patch: (the endpoint's view, the store offset)."""
    check_rate(scope)
    patch = _object(body, "a JSON merge patch")
    ep = await _current(scope, endpoint_id, if_match)
    new = _patched(scope, ep, patch)
    if new.url != ep.url:
        await _check_url(scope, new.url)
    audit = Audit(rid, scope.token_id, scope.tenant, "update", ep.id, tuple(sorted(patch)))
    offset = await write_record(scope, audit, ep.id, _encode(scope, new, ep.offset),
                                won=_won(scope, ep.id))  # fmt: skip
    held = tenant_endpoint(scope, ep.id)
    return endpoint_view(held, scope.context.clock()), offset


async def delete_for(scope: Scope, rid: str, endpoint_id: str, if_match: str | None) -> int:
    """Delete an endpoint: the store offset of its tombstone."""
    check_rate(scope)
    ep = await _current(scope, endpoint_id, if_match)
    audit = Audit(rid, scope.token_id, scope.tenant, "delete", ep.id)
    return await delete_records(scope, audit, ep.id)


async def rotate_for(
    scope: Scope, rid: str, endpoint_id: str, body: Any, if_match: str | None
) -> tuple[dict[str, Any], int]:
    """A new signing secret: ({endpoint, signing_secret, previous_expires}, offset)."""
    check_rate(scope)
    ep = tenant_endpoint(scope, endpoint_id)
    try:
        ask = RotateRequest.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise validation_errors(exc) from None
    ep = await _current(scope, endpoint_id, if_match)
    now = scope.context.clock()
    try:
        new, secret = rotate_secret(ep, now, previous_valid_for=ask.seconds)
    except EndpointLimitError as exc:
        raise ApiError(422, "limit", str(exc)) from None
    audit = Audit(rid, scope.token_id, scope.tenant, "rotate", ep.id, ("secrets",))
    offset = await write_record(scope, audit, ep.id, _encode(scope, new, ep.offset),
                                won=_won(scope, ep.id))  # fmt: skip
    held = tenant_endpoint(scope, ep.id)
    answer = {
        "endpoint": endpoint_view(held, now),
        "signing_secret": secret,
        "previous_expires": now + ask.seconds if ask.seconds > 0 else None,
    }
    return answer, offset


# -- helpers of the routes ----------------------------------------------------------------


def _body_schema(model: type[Any], *, required: bool = True) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _location(request: Request, endpoint_id: str) -> str:
    return f"{request.url.path.rstrip('/')}/{endpoint_id}"


def _with_id(audit: Audit, endpoint_id: str) -> Audit:
    return Audit(audit.request_id, audit.token_id, audit.tenant, audit.action, endpoint_id,
                 audit.fields)  # fmt: skip


def _new_endpoint(scope: Scope, spec: EndpointSpec) -> Endpoint:
    store = scope.context.store
    have = store.tables.endpoints.count_for(scope.tenant)
    if have >= store.max_per_tenant:
        raise ApiError(
            422, "limit",
            f"the tenant has {have} endpoints; the limit is {store.max_per_tenant} "
            "(endpoints_per_tenant)",
            errors=[{"field": "endpoints_per_tenant", "message": "limit reached"}],
        )  # fmt: skip
    return create_endpoint(spec, scope.tenant, now=scope.context.clock())


def _patched(scope: Scope, ep: Endpoint, patch: dict[str, Any]) -> Endpoint:
    try:
        return update_endpoint(
            ep, patch, scope.context.clock(), allow_local=scope.context.allow_local
        )
    except ValidationError as exc:
        raise validation_errors(exc) from None
    except ValueError as exc:  # a field an update cannot change
        fixed = [k for k in ("id", "tenant", "secrets", "created", "updated", "offset", "revision")
                 if k in patch]  # fmt: skip
        raise invalid(fixed[0] if fixed else "body", str(exc)) from None


def _created(scope: Scope, endpoint_id: str, written: Endpoint) -> dict[str, Any]:
    held = scope.context.store.tables.endpoints.get(endpoint_id) or written
    return {
        **endpoint_view(held, scope.context.clock()),
        "signing_secret": written.secrets[0].value.get_secret_value(),
    }


async def _idempotent_create(
    scope: Scope, audit: Audit, spec: EndpointSpec, data: dict[str, Any], key_text: str
) -> Response:
    """A create under ``Idempotency-Key`` (``api/idempotency.py``)."""
    ctx = scope.context
    table = ctx.store.tables.idempotency
    key, digest = idempotency_key(scope.tenant, key_text), body_hash(data)
    ttl = ctx.config.idempotency_hours * 3600
    intended = False
    for _ in range(3):
        now = ctx.clock()
        claim = table.get(key, now)
        if claim is not None:
            if claim.body != digest:
                raise ApiError(422, "idempotency_key_reused",
                               "this Idempotency-Key was used with another body")  # fmt: skip
            first = table.response(claim)
            if first is not None:
                return _versioned(
                    first, 201, int(first["offset"]), **{"Idempotent-Replayed": "true"}
                )
            ep = ctx.store.tables.endpoints.get(claim.endpoint_id)
            if ep is not None and ep.tenant == scope.tenant:
                return _versioned(_created(scope, ep.id, ep), 201, ep.offset,
                                  **{"Idempotent-Replayed": "true"})  # fmt: skip
            if now - claim.at < STALE_CLAIM:
                raise ApiError(409, "in_progress", "a request with this Idempotency-Key is "
                               "in progress; retry", headers={"Retry-After": "1"})  # fmt: skip
        ep = _new_endpoint(scope, spec)
        value = _encode(scope, ep, -1)
        audit = _with_id(audit, ep.id)
        if not intended:
            await record_intent(scope, audit)
            intended = True
        claimed = await store_write(
            scope, audit, key, table.claim_record(key, scope.tenant, digest, ep.id, now, ttl)
        )
        if table.offset_of(key) != claimed:
            continue  # another request claimed the key first: answer as it does
        try:
            offset = await store_write(scope, audit, ep.id, value)
            settle(scope, audit, offset, _won(scope, ep.id))
        except ApiError:
            await _release(scope, key)
            raise
        answer = _created(scope, ep.id, ep)
        mine = table.get(key, ctx.clock())
        if mine is not None and mine.offset == claimed:
            try:
                await ctx.store.write(key, table.done_record(mine, answer))
            except Exception:  # the claim still answers (from the endpoint): not fatal
                log.warning("idempotent response not stored", extra={"endpoint_id": ep.id})
        return _versioned(answer, 201, offset)
    raise ApiError(409, "in_progress", "a request with this Idempotency-Key is in progress; retry",
                   headers={"Retry-After": "1"})  # fmt: skip


async def _release(scope: Scope, key: str) -> None:
    """Tombstone a claim whose create failed, so a retry need not wait for it to go stale."""
    try:
        await scope.context.store.write(key, None)
    except Exception:
        log.warning("idempotency claim not released; it goes stale by itself")
