"""``/portal``: the endpoint portal's pages, and the admin route that mints their links.

Server-rendered (Jinja2, autoescaped: every tenant- or receiver-supplied string is
text), one stylesheet and one small script served from ``/portal/static`` (no inline
script or style, no build step).  Every answer carries ``Content-Security-Policy:
default-src 'self'; frame-ancestors <api.portal.frame_ancestors>``.

Sign-in (``api/portalsessions.py``): ``POST /v1/tenants/{tenant}/portal-sessions`` (admin token)
→ a single-use link valid ``link_minutes``; opening it sets the session cookie
(HttpOnly, Secure, SameSite=Strict, Path=/portal, ``session_minutes``).  Every form
carries the session's CSRF token; a write without it is refused (403).
A session acts as its tenant's token would: the pages call the API's own write
functions (``create_for``, ``patch_for``, ``delete_for``, ``rotate_for``) with a
tenant :class:`~kafkahooks.api.auth.Scope`, so audit, rate limits, URL checks and
revision rules are the API's.
A new signing secret is shown once: the write's answer puts it, sealed under the
store's key and bound to the session and endpoint, in a 2-minute cookie the next page
opens and clears — a reload (or another replica) has nothing left to show.
Invariant: no page, header or log line carries a session link, a cookie, a CSRF token
or a signing secret, except the one reveal.
"""

from __future__ import annotations

import base64
import hmac
import time
import urllib.parse
from dataclasses import dataclass, replace
from importlib import resources
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kafkahooks.api.audit import Audit
from kafkahooks.api.auth import (
    MAX_BODY,
    Scope,
    fresh,
    json_body,
    require_admin,
    tenant_scope,
    wait_for_offset,
)
from kafkahooks.api.context import ApiContext, context, request_id
from kafkahooks.api.endpoints import (
    OFFSET_HEADER,
    create_for,
    delete_for,
    patch_for,
    rotate_for,
    tenant_endpoint,
)
from kafkahooks.api.errors import ApiError, ErrorBodyResponses, JsonAnswer, validation_errors
from kafkahooks.api.models import endpoint_view
from kafkahooks.api.portal.activity import PortalActivity, ReadModelAttempts
from kafkahooks.api.portalsessions import (
    PORTAL_PREFIX,
    PortalSession,
    csrf_token,
    new_session,
    opened,
    session_record,
)
from kafkahooks.api.writes import check_rate, record_intent, settle, store_write, write_record
from kafkahooks.endpoints import Endpoint

__all__ = ["COOKIE", "PortalPageError", "install_portal"]

COOKIE = "kafkahooks_portal"
REVEAL_COOKIE = "kafkahooks_reveal"
REVEAL_SECONDS = 120
_STATIC = {"portal.css": "text/css; charset=utf-8", "portal.js": "text/javascript; charset=utf-8"}
_env = Environment(
    loader=PackageLoader("kafkahooks.api.portal", "templates"),
    autoescape=True,  # every template, whatever its name: all data is text
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = lambda t: (
    "—" if t is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(t)))
)


class PortalPageError(Exception):
    """A page that says what went wrong (a refused link, a session that ended, 404)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


# -- answers ----------------------------------------------------------------------------


def _security_headers(ctx: ApiContext) -> dict[str, str]:
    ancestors = " ".join(ctx.config.portal.frame_ancestors)
    return {
        "Content-Security-Policy": f"default-src 'self'; frame-ancestors {ancestors}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # a link's secret never leaves in a Referer
    }


def _page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx = context(request)
    html = _env.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=_security_headers(ctx))


def _see(request: Request, path: str, offset: int) -> Response:
    """303 to ``path`` after a write at store ``offset``: the page waits for it
    (``?at=``), so a balancer may send the next request to any replica."""
    return RedirectResponse(
        f"{path}?at={offset}", status_code=303, headers=_security_headers(context(request))
    )


def _form_page(
    request: Request,
    sess: Session,
    values: dict[str, Any],
    ep: Endpoint | None = None,
    refused: ApiError | None = None,
) -> HTMLResponse:
    """The add (``ep`` None) or edit form with ``values``; after a refused write, its
    status and problems."""
    return _page(
        request,
        "form.html",
        200 if refused is None else refused.status,
        session=sess,
        catalogue=_catalogue(sess.scope.context),
        values=values,
        endpoint=None if ep is None else endpoint_view(ep, sess.scope.context.clock()),
        problems=[] if refused is None else _problems(refused),
    )


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortalPageError)
    return _page(
        request, "message.html", exc.status, title=exc.title, message=exc.message, session=None
    )


# -- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in request: the tenant scope, the session record, its CSRF token."""

    scope: Scope
    record: PortalSession
    csrf: str

    @property
    def tenant(self) -> str:
        return self.scope.tenant


def _signed_out() -> PortalPageError:
    return PortalPageError(
        401,
        "Signed out",
        "This session has ended or was never opened. "
        "Open the portal again from your account's webhooks page.",
    )


async def session(request: Request) -> Session:
    ctx = context(request)
    at = request.query_params.get("at", "")
    if at.isdigit():  # the page after a write through another replica: wait for it here
        await _or_page(wait_for_offset(ctx, int(at)))
    cookie = request.cookies.get(COOKIE, "")
    record = ctx.store.tables.portal.authenticate(cookie, ctx.clock())
    if record is None:
        raise _signed_out()
    return Session(Scope(record.principal, record.tenant, ctx), record, csrf_token(cookie))


SessionDep = Annotated[Session, Depends(session)]


async def _form(request: Request, sess: Session) -> dict[str, list[str]]:
    """The posted form (``application/x-www-form-urlencoded``, ≤ 64 KiB), once its
    CSRF token is the session's."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise PortalPageError(415, "Not a form", "Send the page's form.")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise PortalPageError(413, "Too large", f"A form is at most {MAX_BODY // 1024} KiB.")
    try:
        fields = urllib.parse.parse_qs(
            data.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=500
        )
    except ValueError:  # more fields than any page's form has
        raise PortalPageError(413, "Too large", "Send the page's form.") from None
    sent = (fields.get("csrf") or [""])[0]
    if not hmac.compare_digest(sent.encode(), sess.csrf.encode()):
        raise PortalPageError(
            403,
            "Form expired",
            "This form is not from this session. Go back, reload the page and try again.",
        )
    return fields


def _one(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0].strip()


def _version(fields: dict[str, list[str]]) -> str | None:
    """The form's endpoint version (its ETag): a write over a newer one is refused."""
    return _one(fields, "version") or None


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/portal", secure=True, httponly=True, samesite="strict"
    )


# -- the one-time reveal ------------------------------------------------------------------


def _reveal_field(sess: Session, endpoint_id: str) -> str:
    return f"reveal\x00{sess.record.id}\x00{endpoint_id}"


def _put_reveal(response: Response, sess: Session, endpoint_id: str, shown: dict[str, Any]) -> None:
    keyring = sess.scope.context.store.tables.keyring
    sealed = keyring.seal("portal", _reveal_field(sess, endpoint_id), orjson.dumps(shown).decode())
    value = base64.urlsafe_b64encode(orjson.dumps(sealed)).decode().rstrip("=")
    _cookie(response, REVEAL_COOKIE, value, REVEAL_SECONDS)


def _take_reveal(request: Request, sess: Session, endpoint_id: str) -> dict[str, Any] | None:
    raw = request.cookies.get(REVEAL_COOKIE)
    if not raw:
        return None
    keyring = sess.scope.context.store.tables.keyring
    try:
        sealed = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        shown: dict[str, Any] = orjson.loads(
            keyring.open("portal", _reveal_field(sess, endpoint_id), sealed)
        )
    except Exception:  # another endpoint's, another session's, or not ours at all
        return None
    return shown


# -- helpers of the pages ------------------------------------------------------------------


def _activity(request: Request) -> PortalActivity:
    found: PortalActivity = getattr(request.app.state, "portal_activity", None) or PortalActivity()
    model = context(request).attempts
    if found.attempts is None and model is not None:  # the read model the API answers from
        return replace(found, attempts=ReadModelAttempts(model))
    return found


def _endpoint(sess: Session, endpoint_id: str) -> Endpoint:
    try:
        return tenant_endpoint(sess.scope, endpoint_id)
    except ApiError:
        raise PortalPageError(404, "Not found", "There is no such endpoint.") from None


def _endpoint_page(request: Request, sess: Session, endpoint_id: str, template: str) -> Response:
    """A page about one of the session tenant's endpoints (a confirmation, say)."""
    ep = _endpoint(sess, endpoint_id)
    view = endpoint_view(ep, sess.scope.context.clock())
    return _page(request, template, session=sess, ep=view)


def _catalogue(ctx: ApiContext) -> list[dict[str, Any]]:
    """One entry per event type (the first route's sample), samples as indented JSON."""
    seen: dict[str, dict[str, Any]] = {}
    for entry in ctx.catalogue:
        sample = entry.get("sample")
        text = None if sample is None else orjson.dumps(sample, option=orjson.OPT_INDENT_2)
        seen.setdefault(entry["type"], {**entry, "sample_text": text and text.decode()})
    return list(seen.values())


def _headers_text(headers: dict[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ApiError(
                422,
                "validation",
                f"headers: line {number} is not 'Name: value'",
                errors=[{"field": "headers", "message": "one 'Name: value' a line"}],
            )
        headers[name.strip()] = value.strip()
    return headers


def _endpoint_body(fields: dict[str, list[str]], *, new: bool) -> dict[str, Any]:
    types = [t for t in fields.get("event_types", []) if t.strip()]
    body: dict[str, Any] = {
        "description": _one(fields, "description"),
        "event_types": types or ["*"],
        "headers": _parse_headers(_one(fields, "headers")),
    }
    url = _one(fields, "url")
    if new or url:  # editing: an empty URL keeps the one held (it is shown masked)
        body["url"] = url
    return body


def _edit_patch(ep: Endpoint, fields: dict[str, list[str]]) -> dict[str, Any]:
    """The edit form as a JSON merge patch: header maps merge per name, so a header
    the form no longer lists is named with null (removed)."""
    patch = _endpoint_body(fields, new=False)
    kept = patch["headers"]
    patch["headers"] = {**{name: None for name in ep.headers if name not in kept}, **kept}
    return patch


def _form_values(fields: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "url": _one(fields, "url"),
        "description": _one(fields, "description"),
        "event_types": fields.get("event_types", []),
        "headers": _one(fields, "headers"),
    }


def _problems(exc: ApiError) -> list[str]:
    if exc.errors:
        return [f"{e['field']}: {e['message']}" for e in exc.errors]
    return [exc.message]


# -- the routes -----------------------------------------------------------------------------


def portal_router() -> APIRouter:
    router = APIRouter(prefix="/portal", include_in_schema=False)

    @router.get("/static/{name}")
    async def static(request: Request, name: str) -> Response:
        if name not in _STATIC:
            raise PortalPageError(404, "Not found", "There is no such file.")
        body = resources.files("kafkahooks.api.portal").joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers=_security_headers(context(request)))

    @router.get("/open")
    async def open_link(request: Request, link: str = "") -> Response:
        ctx = context(request)
        now = ctx.clock()
        record = ctx.store.tables.portal.check_link(link.strip(), now)
        if record is None:
            raise _refused_link()
        mine, cookie = opened(record, now)
        scope = Scope(record.principal, record.tenant, ctx)
        audit = Audit(request_id(request), scope.token_id, record.tenant, "portal-open", None)
        offset = await _or_page(
            write_record(scope, audit, PORTAL_PREFIX + record.id, session_record(mine))
        )
        held = ctx.store.tables.portal.get(record.id)
        if held is None or held.cookie_sha256 != mine.cookie_sha256:
            raise _refused_link()  # another opening of the same link won
        # a page of ours moves on (not a redirect), so the Strict cookie is sent by the
        # next request even when the link was opened from another site
        answer = _page(request, "opened.html", session=None, next=f"/portal/?at={offset}")
        _cookie(answer, COOKIE, cookie, int(record.session_seconds))
        return answer

    @router.post("/signout")
    async def sign_out(request: Request, sess: SessionDep) -> Response:
        await _form(request, sess)
        ended = replace(sess.record, ended=sess.scope.context.clock())
        audit = Audit(request_id(request), sess.scope.token_id, sess.tenant, "portal-end", None)
        await _or_page(
            write_record(sess.scope, audit, PORTAL_PREFIX + ended.id, session_record(ended))
        )
        answer = _page(
            request,
            "message.html",
            title="Signed out",
            message="You are signed out. Close this page.",
            session=None,
        )
        answer.delete_cookie(COOKIE, path="/portal", secure=True, httponly=True, samesite="strict")
        return answer

    @router.get("/")
    async def endpoints_page(request: Request, sess: SessionDep) -> Response:
        ctx = sess.scope.context
        now = ctx.clock()
        eps = sorted(ctx.store.tables.endpoints.for_tenant(sess.tenant), key=lambda e: e.id)
        reader = _activity(request).attempts
        rows = [
            {
                **endpoint_view(e, now),
                "summary": reader.summary(e.id) if reader is not None else None,
            }
            for e in eps
        ]
        return _page(
            request, "list.html", session=sess, endpoints=rows, activity=reader is not None
        )

    @router.get("/new")
    async def new_form(request: Request, sess: SessionDep) -> Response:
        return _form_page(request, sess, {"event_types": []})

    @router.post("/new")
    async def create(request: Request, sess: SessionDep) -> Response:
        fields = await _form(request, sess)
        try:
            answer, offset = await create_for(
                sess.scope, request_id(request), _endpoint_body(fields, new=True)
            )
        except ApiError as exc:
            return _form_page(request, sess, _form_values(fields), None, exc)
        moved = _see(request, f"/portal/e/{answer['id']}", offset)
        _put_reveal(
            moved, sess, answer["id"], {"secret": answer["signing_secret"], "kind": "created"}
        )
        return moved

    @router.get("/e/{endpoint_id}")
    async def detail(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        ep = _endpoint(sess, endpoint_id)
        activity = _activity(request)
        shown = _take_reveal(request, sess, ep.id)
        answer = _page(
            request,
            "detail.html",
            session=sess,
            ep=endpoint_view(ep, sess.scope.context.clock()),
            reveal=shown,
            activity=activity,
            summary=activity.attempts.summary(ep.id) if activity.attempts else None,
            catalogue=_catalogue(sess.scope.context),
        )
        if shown is not None:  # once: a reload finds nothing to open
            answer.delete_cookie(
                REVEAL_COOKIE, path="/portal", secure=True, httponly=True, samesite="strict"
            )
        return answer

    @router.get("/e/{endpoint_id}/edit")
    async def edit_form(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        ep = _endpoint(sess, endpoint_id)
        values = {
            "url": "",
            "description": ep.description,
            "event_types": list(ep.event_types),
            "headers": _headers_text(dict(ep.headers)),
        }
        return _form_page(request, sess, values, ep)

    @router.post("/e/{endpoint_id}/edit")
    async def edit(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        fields = await _form(request, sess)
        ep = _endpoint(sess, endpoint_id)
        try:
            _, offset = await patch_for(
                sess.scope, request_id(request), ep.id, _edit_patch(ep, fields), _version(fields)
            )
        except ApiError as exc:
            return _form_page(request, sess, _form_values(fields), ep, exc)
        return _see(request, f"/portal/e/{ep.id}", offset)

    @router.post("/e/{endpoint_id}/active")
    async def set_active(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        fields = await _form(request, sess)
        ep = _endpoint(sess, endpoint_id)
        want = _one(fields, "active") == "true"
        _, offset = await _or_page(
            patch_for(sess.scope, request_id(request), ep.id, {"active": want}, _version(fields))
        )
        return _see(request, f"/portal/e/{ep.id}", offset)

    @router.get("/e/{endpoint_id}/delete")
    async def delete_confirm(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        return _endpoint_page(request, sess, endpoint_id, "delete.html")

    @router.post("/e/{endpoint_id}/delete")
    async def delete(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        fields = await _form(request, sess)
        ep = _endpoint(sess, endpoint_id)
        await _or_page(delete_for(sess.scope, request_id(request), ep.id, _version(fields)))
        return _page(
            request,
            "message.html",
            session=sess,
            title="Endpoint deleted",
            message=f"{ep.description or ep.id} no longer receives webhooks.",
        )

    @router.get("/e/{endpoint_id}/rotate")
    async def rotate_confirm(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        return _endpoint_page(request, sess, endpoint_id, "rotate.html")

    @router.post("/e/{endpoint_id}/rotate")
    async def rotate(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        fields = await _form(request, sess)
        ep = _endpoint(sess, endpoint_id)
        overlap = _one(fields, "expire_previous") or "24h"
        answer, offset = await _or_page(
            rotate_for(
                sess.scope,
                request_id(request),
                ep.id,
                {"expire_previous": overlap},
                _version(fields),
            ),
        )
        moved = _see(request, f"/portal/e/{ep.id}", offset)
        _put_reveal(
            moved,
            sess,
            ep.id,
            {
                "secret": answer["signing_secret"],
                "kind": "rotated",
                "previous_expires": answer["previous_expires"],
            },
        )
        return moved

    @router.post("/e/{endpoint_id}/test")
    async def send_test(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        fields = await _form(request, sess)
        ep = _endpoint(sess, endpoint_id)
        tests = _activity(request).tests
        if tests is None:
            raise _not_here("Test sends")
        result = await _or_page(tests.send_test(sess.scope, ep, _one(fields, "event_type")))
        return _page(
            request,
            "test.html",
            session=sess,
            ep=endpoint_view(ep, sess.scope.context.clock()),
            result=result,
        )

    @router.get("/e/{endpoint_id}/attempts")
    async def attempts(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        ep = _endpoint(sess, endpoint_id)
        reader = _activity(request).attempts
        if reader is None:
            raise _not_here("Delivery attempts")
        return _page(
            request,
            "attempts.html",
            session=sess,
            ep=endpoint_view(ep, sess.scope.context.clock()),
            attempts=reader.recent(ep.id, 100),
            can_recover=_activity(request).recovers is not None,
        )

    @router.post("/e/{endpoint_id}/recover")
    async def recover(request: Request, sess: SessionDep, endpoint_id: str) -> Response:
        fields = await _form(request, sess)
        ep = _endpoint(sess, endpoint_id)
        recovers = _activity(request).recovers
        if recovers is None:
            raise _not_here("Recovers")
        hours = _one(fields, "hours")
        since = sess.scope.context.clock() - 3600 * (float(hours) if hours.isdigit() else 24)
        job = await _or_page(recovers.start(sess.scope, ep, since, request_id(request)))
        return _page(
            request,
            "message.html",
            session=sess,
            title="Recover started",
            message=f"Failed deliveries since {_env.filters['when'](since)} are being "
            f"sent again (job {job}).",
        )

    return router


async def _or_page(work: Any) -> Any:
    """Await an API call; its refusal (``ApiError``) as a page saying why."""
    try:
        return await work
    except ApiError as exc:
        raise PortalPageError(exc.status, "Not done", "; ".join(_problems(exc))) from None


def _refused_link() -> PortalPageError:
    return PortalPageError(
        403,
        "Link not valid",
        "This sign-in link has expired or was "
        "already used. Open the portal again from your account's webhooks "
        "page to get a new one.",
    )


def _not_here(what: str) -> PortalPageError:
    return PortalPageError(501, "Not available", f"{what} are not available on this server yet.")


# -- minting links (admin API) ----------------------------------------------------------------


class PortalSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    description: str = Field(
        default="",
        max_length=256,
        description="kept in the session's store record, e.g. which of the platform's users",
    )


class PortalSessionLink(BaseModel):
    url: str = Field(description="the single-use sign-in link (this API's address as seen here)")
    path: str = Field(description="the same link as a path, to join to the portal's public address")
    expires: float = Field(description="the link cannot be opened after this time")
    session_minutes: float


def _admin_scope(scope: Annotated[Scope, Depends(tenant_scope)]) -> Scope:
    require_admin(scope.principal)
    return scope


def sessions_router() -> APIRouter:
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["portal"], responses=ErrorBodyResponses)

    @router.post(
        "/portal-sessions",
        status_code=201,
        response_model=PortalSessionLink,
        summary="A single-use portal sign-in link for the tenant (admin tokens only)",
        dependencies=[Depends(fresh)],
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {"schema": PortalSessionCreate.model_json_schema()}
                },
            }
        },
    )
    async def mint(
        request: Request,
        scope: Annotated[Scope, Depends(_admin_scope)],
        body: Annotated[Any, Depends(json_body)],
    ) -> Response:
        check_rate(scope)
        try:
            ask = PortalSessionCreate.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise validation_errors(exc) from None
        ctx = scope.context
        portal = ctx.config.portal
        record, link = new_session(
            scope.tenant,
            ctx.clock(),
            portal.link_minutes * 60,
            portal.session_minutes * 60,
            ask.description,
        )
        audit = Audit(
            request_id(request),
            scope.token_id,
            scope.tenant,
            "portal-session",
            None,
            ("portal:" + record.id,),
        )
        await record_intent(scope, audit)
        offset = await store_write(scope, audit, PORTAL_PREFIX + record.id, session_record(record))
        settle(scope, audit, offset, None)
        path = "/portal/open?" + urllib.parse.urlencode({"link": link})
        base = str(request.base_url).rstrip("/")
        return JsonAnswer(
            {
                "url": base + path,
                "path": path,
                "expires": record.link_expires,
                "session_minutes": portal.session_minutes,
            },
            status_code=201,
            headers={OFFSET_HEADER: str(offset)},
        )

    return router


def install_portal(app: FastAPI, activity: PortalActivity | None = None) -> None:
    """Mount the portal's pages and the admin route that mints their links."""
    app.state.portal_activity = activity or PortalActivity()
    app.include_router(sessions_router())
    app.include_router(portal_router())
    app.add_exception_handler(PortalPageError, _page_error)
