"""The portal's pages over the in-memory API: sign-in links, the session cookie, CSRF,
the one-time secret, tenant isolation, the CSP, and tenant strings shown as text.
(The same flow in a real browser: tests/browser/test_portal_browser.py.)"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.unit.api.conftest import URL, Api

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def _link(api: Api, tenant: str) -> str:
    answer = api.admin.post(f"/v1/tenants/{tenant}/portal-sessions", json={})
    assert answer.status_code == 201, answer.text
    path: str = answer.json()["path"]
    return path


def _browser(api: Api, tenant: str) -> TestClient:
    client = TestClient(api.http.app, base_url="https://testserver")
    opened = client.get(_link(api, tenant))
    assert opened.status_code == 200, opened.text
    cookie = opened.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/portal", "Max-Age=3600"):
        assert flag.lower() in cookie.lower()
    return client


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None
    return found.group(1)


def test_a_link_opens_once_and_only_an_admin_mints_one(api: Api) -> None:
    tenant_token = api.tenant_token("acme")
    assert api.client(tenant_token).post("/v1/tenants/acme/portal-sessions").status_code == 404
    path = _link(api, "acme")
    client = TestClient(api.http.app, base_url="https://testserver")
    assert client.get(path).status_code == 200
    again = TestClient(api.http.app, base_url="https://testserver").get(path)
    assert again.status_code == 403 and "expired or was already used" in again.text
    assert "kafkahooks_portal=" not in again.headers.get("set-cookie", "")


def test_an_expired_link_is_refused(api: Api) -> None:
    path = _link(api, "acme")
    now = api.ctx.clock()
    api.ctx.clock = lambda: now + 601
    answer = TestClient(api.http.app, base_url="https://testserver").get(path)
    assert answer.status_code == 403


def test_without_a_session_every_page_is_refused(api: Api) -> None:
    client = TestClient(api.http.app, base_url="https://testserver")
    assert client.get("/portal/").status_code == 401
    client.cookies.set(
        "kafkahooks_portal", "0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    )
    assert client.get("/portal/").status_code == 401


def test_create_shows_the_secret_once_and_writes_need_the_csrf_token(api: Api) -> None:
    client = _browser(api, "acme")
    form = client.get("/portal/new")
    assert form.status_code == 200 and "status-changed" in form.text
    csp = form.headers["content-security-policy"]
    assert csp == "default-src 'self'; frame-ancestors 'self'"
    body = {"url": URL, "description": "<img src=x onerror=alert(1)>",
            "event_types": "status-changed", "headers": "X-Team: billing"}  # fmt: skip
    refused = client.post("/portal/new", data={**body, "csrf": "0" * 64})
    assert refused.status_code == 403
    assert api.ctx.store.tables.endpoints.count_for("acme") == 0
    made = client.post("/portal/new", data={**body, "csrf": _csrf(form.text)},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    page = client.get(made.headers["location"])
    secret = re.search(r'value="(whsec_[^"]+)"', page.text)
    assert secret is not None
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and "<img" not in page.text
    again = client.get(made.headers["location"])
    assert again.status_code == 200 and secret.group(1) not in again.text
    ep = api.ctx.store.tables.endpoints.for_tenant("acme")[0]
    assert ep.headers == {"X-Team": "billing"} and list(ep.event_types) == ["status-changed"]


def test_a_session_sees_only_its_tenant(api: Api) -> None:
    other = api.create(api.admin, "globex", description="globex-only")
    client = _browser(api, "acme")
    assert "globex-only" not in client.get("/portal/").text
    assert client.get(f"/portal/e/{other['id']}").status_code == 404
    form = client.get("/portal/new")
    answer = client.post(f"/portal/e/{other['id']}/delete",
                         data={"csrf": _csrf(form.text), "version": ""})  # fmt: skip
    assert answer.status_code == 404
    assert api.ctx.store.tables.endpoints.get(other["id"]) is not None


def test_rotate_states_the_overlap_and_delete_confirms(api: Api) -> None:
    made = api.create(api.admin, "acme", description="billing hooks")
    client = _browser(api, "acme")
    confirm = client.get(f"/portal/e/{made['id']}/rotate")
    assert "previous secret keeps signing until it expires" in confirm.text
    rotated = client.post(f"/portal/e/{made['id']}/rotate", follow_redirects=False,
                          data={"csrf": _csrf(confirm.text), "expire_previous": "24h"})  # fmt: skip
    assert rotated.status_code == 303
    page = client.get(f"/portal/e/{made['id']}")
    assert "keeps signing too until" in page.text and "whsec_" in page.text
    assert len(api.ctx.store.tables.endpoints.get(made["id"]).secrets) == 2  # type: ignore[union-attr]
    sure = client.get(f"/portal/e/{made['id']}/delete")
    assert "billing hooks" in sure.text and URL.split("/in")[0] in sure.text
    gone = client.post(f"/portal/e/{made['id']}/delete", data={"csrf": _csrf(sure.text)})
    assert gone.status_code == 200 and "deleted" in gone.text
    assert api.ctx.store.tables.endpoints.get(made["id"]) is None
    audit = [r for r in api.audit.records if r.get("action") == "delete"]
    assert audit and audit[0]["token_id"].startswith("portal_")


def test_sign_out_ends_the_session(api: Api) -> None:
    client = _browser(api, "acme")
    page = client.get("/portal/")
    assert client.post("/portal/signout", data={"csrf": _csrf(page.text)}).status_code == 200
    assert client.get("/portal/").status_code == 401


def test_the_first_open_of_a_link_wins_on_every_replica() -> None:
    """Two replicas open one link at the same moment: both records reach the store;
    every replica applies them in one order and keeps the first (the second opener sees
    a record that is not its own and refuses)."""
    from kafkahooks.api.portalsessions import (
        PortalSessionTable,
        new_session,
        opened,
        session_record,
    )

    minted, link = new_session("acme", 1000.0, 600, 3600)
    one, cookie_one = opened(minted, 1001.0)
    two, cookie_two = opened(minted, 1001.5)
    replicas = [PortalSessionTable(), PortalSessionTable()]
    for table in replicas:
        table.apply("portal/" + minted.id, session_record(minted), 0)
        assert table.check_link(link, 1001.0) is not None
        assert table.apply("portal/" + one.id, session_record(one), 1)
        assert not table.apply("portal/" + two.id, session_record(two), 2)
        assert table.check_link(link, 1002.0) is None  # used
        assert table.authenticate(cookie_one, 1002.0) is not None
        assert table.authenticate(cookie_two, 1002.0) is None
        assert table.authenticate(cookie_one, 1001.0 + 3600) is None  # the hour is over


def test_a_page_after_a_write_waits_for_the_store_offset(api: Api) -> None:
    client = _browser(api, "acme")
    ahead = api.store.applied + 1
    behind = client.get(f"/portal/?at={ahead}")  # a write this replica has not applied
    assert behind.status_code == 503 and "not applied store offset" in behind.text
    api.store.put("unrelated", b"x")  # now it has
    assert client.get(f"/portal/?at={ahead}").status_code == 200


class _Sender:
    """A stand-in for the API's test send (``…/test``, not served yet): a receiver
    that answers with markup."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send_test(self, scope: Any, endpoint: Any, event_type: str) -> dict[str, Any]:
        self.sent.append((scope.tenant, endpoint.id, event_type))
        return {"status": 500, "latency_ms": 12.5, "error": "HTTP 500",
                "response": "<script>alert('receiver')</script>"}  # fmt: skip


class _Recoverer:
    def __init__(self) -> None:
        self.started: list[tuple[str, float]] = []

    async def start(self, scope: Any, endpoint: Any, since: float, rid: str) -> str:
        self.started.append((endpoint.id, since))
        return "job_1"


def test_a_test_send_shows_the_receivers_answer_as_text_and_a_recover_starts(api: Api) -> None:
    from kafkahooks.api.portal.activity import PortalActivity

    sender, recoverer = _Sender(), _Recoverer()
    api.http.app.state.portal_activity = PortalActivity(tests=sender, recovers=recoverer)
    made = api.create(api.admin, "acme", description="billing", event_types=["status-changed"])
    client = _browser(api, "acme")
    page = client.get(f"/portal/e/{made['id']}")
    assert '<option value="status-changed">' in page.text
    sent = client.post(f"/portal/e/{made['id']}/test",
                       data={"csrf": _csrf(page.text), "event_type": "status-changed"})  # fmt: skip
    assert sent.status_code == 200 and sender.sent == [("acme", made["id"], "status-changed")]
    assert "&lt;script&gt;alert(&#39;receiver&#39;)&lt;/script&gt;" in sent.text
    assert "<script>alert" not in sent.text
    started = client.post(f"/portal/e/{made['id']}/recover",
                          data={"csrf": _csrf(page.text), "hours": "24"})  # fmt: skip
    assert started.status_code == 200 and "job_1" in started.text
    assert recoverer.started and recoverer.started[0][0] == made["id"]


def test_an_edit_replaces_the_headers_and_a_stale_form_is_refused(api: Api) -> None:
    made = api.create(api.admin, "acme", description="old", headers={"X-A": "1", "X-B": "2"})
    client = _browser(api, "acme")
    form = client.get(f"/portal/e/{made['id']}/edit")
    assert "X-A: 1" in form.text
    fields = {
        "csrf": _csrf(form.text),
        "version": str(made["offset"]),
        "url": "",
        "description": "new",
        "headers": "X-B: 3",
        "event_types": "status-changed",
    }
    saved = client.post(f"/portal/e/{made['id']}/edit", data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    ep = api.ctx.store.tables.endpoints.get(made["id"])
    assert ep is not None and dict(ep.headers) == {"X-B": "3"} and ep.description == "new"
    assert ep.url == URL  # an empty URL kept the one held
    stale = client.post(f"/portal/e/{made['id']}/edit", data={**fields, "description": "late"})
    assert stale.status_code == 412 and "changed since" in stale.text
