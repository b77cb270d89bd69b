"""The endpoint portal in a real browser, against a real broker, API replica and bridge.

The flow a platform's customer goes through (issue 18): open a session link; add an
endpoint (event types with their sample payloads); see its signing secret once, masked,
with reveal and copy (a reload does not show it again); receive webhooks the loopback
receiver verifies (Standard Webhooks); rotate — the receiver verifies both signatures;
disable, enable, edit; delete after a confirmation naming it.  And: tenant strings are
text, never markup; expired and reused links are refused; a tenant's cookie never
shows another tenant's data; the CSP and the cookie's flags.  Each page is
photographed at desktop width and at 360 px (``make portal-screenshots``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
import yaml

from kafkahooks.api import (
    ApiContext,
    KafkaAudit,
    TokenTable,
    build_catalogue,
    new_token,
    open_api_store,
    open_endpoint_attempts,
)
from kafkahooks.config import RoutesFile
from kafkahooks.endpoints import generate_key_spec
from kafkahooks.kafka import producer_properties
from tests.support.api import PUBLIC, ApiServer, NameResolver, admin_config, routes_doc
from tests.support.kafka import GROUP_TIMINGS, create_topic, produce, unique
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.browser

ADMIN = new_token("admin1")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
EVENT = {"event": "status-changed", "companionId": "acme", "data": {"status": "up"}}
XSS = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=2</script>"


@dataclass
class Portal:
    server: ApiServer
    ctx: ApiContext
    topic: str
    bootstrap: str

    def admin(self) -> httpx.Client:
        return self.server.client(ADMIN.value)

    def link(self, tenant: str) -> str:
        with self.admin() as admin:
            answer = admin.post(f"/v1/tenants/{tenant}/portal-sessions", json={})
        assert answer.status_code == 201, answer.text
        url: str = answer.json()["url"]
        assert url.startswith(self.server.url + "/portal/open?link=")
        return url


@pytest.fixture
def portal(bootstrap: str, tmp_path: Path) -> Iterator[Portal]:
    keys, store_topic = generate_key_spec("k1"), unique("endpoints")
    audit_topic = create_topic(bootstrap, unique("audit"))
    log_topic = create_topic(bootstrap, unique("deliveries"), partitions=2)
    api_doc = routes_doc(
        bootstrap=bootstrap,
        topic=store_topic,
        keys=keys,
        **admin_config(ADMIN.id, ADMIN.sha256, audit_topic=audit_topic, write_burst=1000),
    )
    api_doc["kafka"]["delivery_log_topic"] = log_topic
    config = RoutesFile.model_validate(api_doc)
    assert config.api is not None
    store = open_api_store(config, TokenTable(config.api.admin_tokens), 30)
    audit = KafkaAudit(producer_properties(config.kafka), config.api.audit_topic)
    ctx = ApiContext(
        config.api,
        config,
        store,
        audit,
        NameResolver({"hooks.acme.example": [PUBLIC]}),
        allow_local=True,  # the receiver is on loopback (the bridge allows it too)
        catalogue=build_catalogue(config),
        # the attempts read model the API answers …/attempts from: the bridge's log
        attempts=open_endpoint_attempts({"bootstrap.servers": bootstrap}, log_topic, timeout=30),
    )
    server = ApiServer(ctx)
    topic = create_topic(bootstrap, unique("calls"))
    doc: dict[str, Any] = routes_doc(bootstrap=bootstrap, topic=store_topic, keys=keys)
    del doc["api"]
    doc["kafka"].update(
        group_id=unique("g"), properties=dict(GROUP_TIMINGS), delivery_log_topic=log_topic
    )
    doc["routes"][0].update(topics=[topic], retry={"max_attempts": 1})
    (tmp_path / "bridge.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        yield Portal(server, ctx, topic, bootstrap)
    finally:
        server.close()
        assert ctx.attempts is not None
        ctx.attempts.close()
        store.close()
        audit.close()


def _shoot(page: Any, folder: Path, name: str) -> None:
    """The page at desktop width and at 360 px (full height), as small PNGs; at 360 px
    nothing is wider than the screen (no sideways scrolling)."""
    for suffix, size in (("", DESKTOP), ("-360", PHONE)):
        page.set_viewport_size(size)
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], name
        page.screenshot(path=str(folder / f"{name}{suffix}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def _signed_in(browser: Any, portal: Portal, tenant: str = "acme") -> Any:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(portal.link(tenant))
    page.wait_for_url(re.compile(re.escape(portal.server.url) + r"/portal/\?at=\d+$"))
    return page


def _verified_webhooks(receiver: Receiver, portal: Portal, secrets: list[str]) -> None:
    """Produce events until the newest webhook verifies with every one of ``secrets``
    (the bridge follows the store: a change reaches it within its follow delay)."""
    deadline = time.monotonic() + 60
    while True:
        produce(portal.bootstrap, portal.topic, [("call-1", EVENT)])
        receiver.wait_count(len(receiver.requests) + 1, timeout=30)
        last = receiver.requests[-1]
        try:
            for secret in secrets:
                standardwebhooks.Webhook(secret).verify(last.body, last.headers)
            return
        except standardwebhooks.WebhookVerificationError:
            assert time.monotonic() < deadline, "no webhook verified with every secret"


def _reload_until(page: Any, done: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the page never showed it"
        time.sleep(0.3)
        page.reload()


def test_a_customer_manages_an_endpoint_in_the_browser(
    browser: Any, portal: Portal, screenshots: Path, start_bridge: Any, tmp_path: Path
) -> None:
    receiver = Receiver()
    try:
        page = _signed_in(browser, portal)
        cookie = next(c for c in page.context.cookies() if c["name"] == "kafkahooks_portal")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        csp = page.goto(portal.server.url + "/portal/").headers["content-security-policy"]
        assert csp == "default-src 'self'; frame-ancestors 'self'"
        assert page.get_by_role("heading", name="Endpoints").is_visible()
        _shoot(page, screenshots, "endpoints-empty")

        page.get_by_role("link", name="Add endpoint").click()
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Description").fill("Billing system")
        page.get_by_label("status-changed").check()
        page.get_by_text("Sample payload").first.click()
        assert page.locator("pre").first.inner_text().startswith("{")
        page.get_by_label("Headers").fill("X-Team: billing")
        _shoot(page, screenshots, "add-endpoint")
        page.get_by_role("button", name="Add endpoint").click()

        # the secret: masked, revealed, copied, and shown this once
        secret_box = page.get_by_role("textbox", name="signing secret")
        assert secret_box.get_attribute("type") == "password"
        _shoot(page, screenshots, "secret-once")
        page.get_by_role("button", name="Reveal").click()
        assert secret_box.get_attribute("type") == "text"
        secret = secret_box.input_value()
        assert secret.startswith("whsec_")
        page.get_by_role("button", name="Copy").click()
        page.get_by_text("Copied.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        page.reload()
        assert page.get_by_role("textbox", name="signing secret").count() == 0
        assert secret not in page.content()
        _shoot(page, screenshots, "endpoint")

        # webhooks the receiver verifies with that secret
        start_bridge(tmp_path / "bridge.yaml")
        _verified_webhooks(receiver, portal, [secret])
        assert receiver.requests[-1].headers["x-team"] == "billing"

        # the attempts the bridge logged, as the API's read model has them
        page.get_by_role("link", name="Recent attempts").click()
        _reload_until(page, lambda: page.locator("tbody tr").count() > 0)
        first_row = page.locator("tbody tr").first.inner_text()
        assert "status-changed" in first_row and "200" in first_row
        _shoot(page, screenshots, "attempts")
        page.goto(portal.server.url + "/portal/")
        assert "100.0% of" in page.locator("tbody").inner_text()
        _shoot(page, screenshots, "endpoints-activity")
        page.get_by_role("link", name="Billing system").click()

        # a test send: the route's sample event, signed, through the real client
        page.get_by_role("button", name="Send test").click()
        page.get_by_role("heading", name="Test sent").wait_for()
        assert "200" in page.locator("dl.facts").inner_text()
        receiver.wait_for(
            lambda got: any(r.headers.get("webhook-id", "").startswith("evt_test_") for r in got)
        )
        sent = next(r for r in receiver.requests if r.headers["webhook-id"].startswith("evt_test_"))
        standardwebhooks.Webhook(secret).verify(sent.body, sent.headers)
        _shoot(page, screenshots, "test")
        page.get_by_role("link", name="← Back").click()

        # rotate: the overlap is stated; then both secrets verify the same webhook
        page.get_by_role("link", name="Rotate secret").click()
        assert page.get_by_text("The previous secret keeps signing until it expires").is_visible()
        _shoot(page, screenshots, "rotate")
        page.get_by_role("button", name="Rotate secret").click()
        assert page.get_by_text("The previous secret keeps signing too until").is_visible()
        page.get_by_role("button", name="Reveal").click()
        new_secret = page.get_by_role("textbox", name="signing secret").input_value()
        assert new_secret.startswith("whsec_") and new_secret != secret
        _verified_webhooks(receiver, portal, [secret, new_secret])

        # disable, enable, edit
        page.get_by_role("button", name="Disable").click()
        assert page.locator("dd .status").inner_text() == "Disabled"
        page.get_by_role("button", name="Enable").click()
        assert page.locator("dd .status").inner_text() == "Enabled"
        page.get_by_role("link", name="Edit").click()
        page.get_by_label("Description").fill("Billing system (EU)")
        _shoot(page, screenshots, "edit-endpoint")
        page.get_by_role("button", name="Save").click()
        assert page.get_by_role("heading", name="Billing system (EU)").is_visible()

        # delete after a confirmation naming it
        page.get_by_role("link", name="Delete").click()
        facts = page.locator("dl.facts").inner_text()
        assert "Billing system (EU)" in facts and "127.0.0.1" in facts and "status-changed" in facts
        _shoot(page, screenshots, "delete-confirm")
        page.get_by_role("button", name="Delete endpoint").click()
        assert page.get_by_role("heading", name="Endpoint deleted").is_visible()
        page.goto(portal.server.url + "/portal/")
        assert "Billing system" not in page.content()
    finally:
        receiver.close()


def test_tenant_strings_are_text_and_tenants_never_meet(
    browser: Any, portal: Portal, screenshots: Path
) -> None:
    with portal.admin() as admin:
        other = admin.post(
            "/v1/tenants/globex/endpoints",
            json={
                "url": "https://hooks.acme.example/globex",
                "description": "globex private hooks",
            },
        )
        assert other.status_code == 201, other.text
    hostile = Receiver(lambda _: Reply(body=SCRIPT.encode()))  # answers with a script
    page = _signed_in(browser, portal)
    page.get_by_role("link", name="Add endpoint").click()
    page.get_by_label("URL").fill(hostile.url)
    page.get_by_label("Description").fill(XSS)
    page.get_by_role("button", name="Add endpoint").click()
    detail = page.url
    for path in ("/portal/", detail):
        page.goto(path if path.startswith("http") else portal.server.url + path)
        assert page.get_by_text(XSS).first.is_visible()  # shown as the text it is
        assert page.locator("main img").count() == 0
        assert page.evaluate("window.__xss") is None
    try:  # the receiver's answer, shown on the test page, is text too
        page.get_by_role("button", name="Send test").click()
        page.get_by_role("heading", name="Test sent").wait_for()
        assert page.locator("pre.response").inner_text() == SCRIPT
        assert page.locator("main script").count() == 0
        assert page.evaluate("window.__xss") is None
    finally:
        hostile.close()
    page.goto(portal.server.url + "/portal/")
    _shoot(page, screenshots, "endpoints")
    assert "globex" not in page.content()
    page.goto(portal.server.url + f"/portal/e/{other.json()['id']}")
    assert page.get_by_text("There is no such endpoint.").is_visible()


def test_a_link_opens_once_and_not_after_it_expired(
    browser: Any, portal: Portal, screenshots: Path
) -> None:
    link = portal.link("acme")
    first = browser.new_context().new_page()
    first.goto(link)
    first.wait_for_url(re.compile(re.escape(portal.server.url) + r"/portal/\?at=\d+$"))
    again = browser.new_context().new_page()
    answer = again.goto(link)
    assert answer is not None and answer.status == 403
    assert again.get_by_text("expired or was already used").is_visible()
    assert again.context.cookies() == []
    _shoot(again, screenshots, "link-refused")

    late = portal.link("acme")
    clock = portal.ctx.clock
    portal.ctx.clock = lambda: clock() + 601  # the link's 10 minutes are over
    try:
        answer = (page := browser.new_context().new_page()).goto(late)
        assert answer is not None and answer.status == 403
        assert page.context.cookies() == []
    finally:
        portal.ctx.clock = clock
    page.goto(portal.server.url + "/portal/")
    assert page.get_by_text("Signed out").first.is_visible()
