"""The FastAPI application: routers, error answers, request ids, the OpenAPI document.

Resources are routers of their own modules (``endpoints``, ``admin`` tokens,
``catalogue``); a new resource (attempts, stats, recover, test sends, the portal's
server-rendered pages) is one more ``include_router`` here.  The endpoint routes are
mounted twice: ``/v1/tenants/{tenant}/…`` (documented) and ``/v1/…`` (a tenant token's
alias for its own tenant, left out of the document to keep one name per operation).

The document is what ``/openapi.json`` serves and ``schemas/openapi.json`` holds
(:func:`openapi_document`; ``kafkahooks api --print-openapi`` regenerates the copy and
a test keeps it in step).
Invariant: every answer carries ``Kafkahooks-Request-Id`` (the id in the audit records)
and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kafkahooks import __version__
from kafkahooks.api.activity import activity_router
from kafkahooks.api.admin import tokens_router
from kafkahooks.api.auth import own_scope, tenant_scope
from kafkahooks.api.catalogue import catalogue_router
from kafkahooks.api.context import ApiContext
from kafkahooks.api.endpoints import endpoints_router
from kafkahooks.api.errors import JsonAnswer, install_error_handlers
from kafkahooks.api.portal.pages import install_portal
from kafkahooks.api.portal.services import api_activity
from kafkahooks.api.recover import recover_router
from kafkahooks.api.testsend import test_router

__all__ = ["REQUEST_ID_HEADER", "create_app", "openapi_document"]

REQUEST_ID_HEADER = "Kafkahooks-Request-Id"

DESCRIPTION = """\
Manage customer webhook endpoints of kafkahooks.

Authenticate with `Authorization: Bearer kht_<id>_<secret>`. An admin token acts on any
tenant and issues tenant tokens; a tenant token acts on its own tenant only, and may write
`/v1/endpoints…` for `/v1/tenants/{its tenant}/endpoints…`.

Every write answers with `Kafkahooks-Store-Offset` (also the `ETag`) once the store
acknowledged it and this replica applied it; send `Kafkahooks-Min-Offset: <offset>` on a
read to another replica to see that write (it waits up to 2 s, else 503 + Retry-After).
"""


def create_app(ctx: ApiContext | None = None) -> FastAPI:
    """The app over ``ctx`` (``None``: for the document only; no route can answer)."""
    app = FastAPI(
        title="kafkahooks management API",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JsonAnswer,
    )
    app.state.context = ctx
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(endpoints_router(tenant_scope), prefix="/v1/tenants/{tenant}")
    app.include_router(endpoints_router(own_scope, in_schema=False), prefix="/v1")
    app.include_router(activity_router(tenant_scope), prefix="/v1/tenants/{tenant}")
    app.include_router(activity_router(own_scope, in_schema=False), prefix="/v1")
    app.include_router(test_router(tenant_scope), prefix="/v1/tenants/{tenant}")
    app.include_router(test_router(own_scope, in_schema=False), prefix="/v1")
    app.include_router(recover_router(tenant_scope), prefix="/v1/tenants/{tenant}")
    app.include_router(recover_router(own_scope, in_schema=False), prefix="/v1")
    app.include_router(tokens_router())
    app.include_router(catalogue_router())
    install_portal(app, api_activity())  # /portal pages and POST …/portal-sessions

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        """200 while this replica follows the store and can read every record; else 503."""
        if ctx is None:
            return JsonAnswer({"status": "no store"}, status_code=503)
        problem = ctx.store.problem()
        return JsonAnswer(
            {"status": "ok" if problem is None else problem, "store_offset": ctx.store.applied},
            status_code=200 if problem is None else 503,
        )

    app.add_middleware(RequestIds)
    return app


# answers hold tenants' data and one-time secrets: no cache or proxy may keep one
_NO_STORE = (b"cache-control", b"no-store")


class RequestIds:
    """Pure ASGI middleware: a request id in ``request.state`` and on every answer, with
    ``Cache-Control: no-store`` (Starlette's ``BaseHTTPMiddleware`` would cost a task
    and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"req_{uuid.uuid4().hex}"
        scope.setdefault("state", {})["request_id"] = rid
        added = [(REQUEST_ID_HEADER.lower().encode(), rid.encode()), _NO_STORE]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the ``$defs`` of the request bodies the routes declare by
    hand (they are parsed by the routes, not by FastAPI) moved to ``components``."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)  # fmt: skip
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for operations in doc["paths"].values():
            for operation in operations.values():
                for media in operation.get("requestBody", {}).get("content", {}).values():
                    schemas.update(media.get("schema", {}).pop("$defs", {}))
        app.openapi_schema = doc
    return app.openapi_schema


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (what ``/openapi.json`` serves)."""
    return create_app(None).openapi()
