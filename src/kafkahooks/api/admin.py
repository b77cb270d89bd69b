"""``/v1/tenants/{tenant}/tokens``: admin tokens issue, list and revoke tenant tokens.

An issued token is shown once, in the answer to its ``POST``; the store keeps its id,
tenant, expiry and the SHA-256 of its secret (``token/<id>``, ``api/tokens.py``).  A
revocation rewrites that record with ``revoked`` set, so every replica refuses the
token as soon as its follower applied it.  Tenant tokens never see these routes (404).
Invariant: the token's secret is in no record, log line or audit record.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from kafkahooks.api.audit import Audit
from kafkahooks.api.auth import Scope, fresh, json_body, require_admin, tenant_scope
from kafkahooks.api.context import request_id
from kafkahooks.api.endpoints import OFFSET_HEADER
from kafkahooks.api.errors import ErrorBodyResponses, JsonAnswer, not_found, validation_errors
from kafkahooks.api.models import TokenCreate, TokenCreated, TokenView
from kafkahooks.api.tokens import TOKEN_PREFIX, TenantToken, new_token, token_record
from kafkahooks.api.writes import check_rate, write_record

__all__ = ["tokens_router"]


def _admin_scope(scope: Annotated[Scope, Depends(tenant_scope)]) -> Scope:
    require_admin(scope.principal)
    return scope


AdminScope = Annotated[Scope, Depends(_admin_scope)]


def tokens_router() -> APIRouter:
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["tokens"],
                       responses=ErrorBodyResponses)  # fmt: skip

    body_doc = {
        "required": False,
        "content": {"application/json": {"schema": TokenCreate.model_json_schema()}},
    }

    @router.post("/tokens", status_code=201, response_model=TokenCreated,
                 summary="Issue a tenant token (shown this once)",
                 dependencies=[Depends(fresh)],
                 openapi_extra={"requestBody": body_doc})  # fmt: skip
    async def issue(
        request: Request, scope: AdminScope, body: Annotated[Any, Depends(json_body)]
    ) -> Response:
        check_rate(scope)
        try:
            ask = TokenCreate.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise validation_errors(exc) from None
        now = scope.context.clock()
        issued = new_token()
        token = TenantToken(
            id=issued.id, tenant=scope.tenant, sha256=issued.sha256, created=now,
            expires=None if ask.expires_in is None else now + ask.expires_in,
            description=ask.description,
        )  # fmt: skip
        audit = Audit(request_id(request), scope.token_id, scope.tenant, "issue-token", None,
                      ("token:" + token.id,))  # fmt: skip
        offset = await write_record(scope, audit, TOKEN_PREFIX + token.id, token_record(token))
        return JsonAnswer({**token.public(), "token": issued.value}, status_code=201,
                              headers={OFFSET_HEADER: str(offset)})  # fmt: skip

    @router.get("/tokens", response_model=list[TokenView], summary="List tenant tokens",
                dependencies=[Depends(fresh)])  # fmt: skip
    async def list_tokens(scope: AdminScope) -> Response:
        tokens = scope.context.store.tables.tokens.for_tenant(scope.tenant)
        return JsonAnswer([t.public() for t in tokens])

    @router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a tenant token",
                   dependencies=[Depends(fresh)])  # fmt: skip
    async def revoke(request: Request, scope: AdminScope, token_id: str) -> Response:
        check_rate(scope)
        held = scope.context.store.tables.tokens.get(token_id)
        if held is None or held.tenant != scope.tenant:
            raise not_found(f"no token {token_id}")
        now = scope.context.clock()
        revoked = TenantToken(
            held.id, held.tenant, held.sha256, held.created, held.expires,
            held.revoked if held.revoked is not None else now, held.description,
        )  # fmt: skip
        audit = Audit(request_id(request), scope.token_id, scope.tenant, "revoke-token", None,
                      ("token:" + held.id,))  # fmt: skip
        offset = await write_record(scope, audit, TOKEN_PREFIX + held.id, token_record(revoked))
        return Response(status_code=204, headers={OFFSET_HEADER: str(offset)})

    return router
