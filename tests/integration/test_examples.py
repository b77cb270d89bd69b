"""Every examples/*.yaml end to end: real broker → kafkahooks → a receiver that checks the
signature with the product's own recipe (re-implemented here; no kafkahooks imports on the
receiving side), or for Standard Webhooks with the published ``standardwebhooks`` library.
Input: the call-status events of schemas/call-status/.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import GROUP_TIMINGS, committed, create_topic, produce, unique
from tests.support.receiver import Receiver, Reply

REPO = Path(__file__).resolve().parents[2]
CALLS = [json.loads(p.read_text())
         for p in sorted((REPO / "schemas" / "call-status").glob("*.json"))]
NOTIFICATION_HEADERS = [("x-origin-channel", b"web-widget"),
                        ("x-appointment-context", b"open-house"),
                        ("x-not-allowed", b"internal")]
StartBridge = Callable[..., BridgeProcess]


def _hex(secret: str, content: bytes) -> str:
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def run_example(
    name: str, bootstrap: str, receiver: Receiver, start_bridge: StartBridge, expect: int,
    env: dict[str, str], events: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """Produce the call-status events, run ``examples/<name>.yaml``, wait for ``expect``
    requests and a full commit; return (topic, group)."""
    events = CALLS if events is None else events
    topic, group = create_topic(bootstrap, unique(name)), unique(f"g-{name}")
    produce(bootstrap, topic, [(e["callId"], e) for e in events], headers=NOTIFICATION_HEADERS)
    bridge = start_bridge(REPO / "examples" / f"{name}.yaml", {
        "KAFKA_BOOTSTRAP": bootstrap, "SOURCE_TOPIC": topic, "GROUP_ID": group,
        "TARGET_URL": receiver.url,
        "SESSION_TIMEOUT_MS": str(GROUP_TIMINGS["session.timeout.ms"]),
        "HEARTBEAT_INTERVAL_MS": str(GROUP_TIMINGS["heartbeat.interval.ms"]),
        **env,
    })
    receiver.wait_count(expect)
    wait_until(lambda: committed(bootstrap, group, topic) == [len(events)], timeout=15)
    assert bridge.terminate() == 0
    assert len(receiver.requests) == expect, [r.body for r in receiver.requests]
    return topic, group


def test_outrival(bootstrap: str, receiver: Receiver, start_bridge: StartBridge) -> None:
    secret = "outrival-shared-secret"
    run_example("outrival", bootstrap, receiver, start_bridge, 4, {"WEBHOOK_SECRET": secret})
    for request in receiver.requests:
        # OutRival's recipe: createHmac("sha256", secret).update(payload).digest("hex")
        payload = request.body.decode("utf-8")
        assert _hex(secret, payload.encode("utf-8")) == request.headers["x-signature"]
    bodies = [r.json() for r in receiver.requests]
    assert [b["data"]["status"] for b in bodies] == ["queued", "ringing", "in-progress", "ended"]
    first, last = bodies[0], bodies[-1]
    assert first["event"] == "status-changed" and first["type"] == "VOICE"
    assert first["companionId"] == "cmp_8f14e45f"
    assert set(first["data"]) == {"messages", "status", "startedAt", "phoneNumber"}
    assert last["data"]["endedReason"] == "customer-ended-call" and "endedAt" in last["data"]


def test_avoma_named_webhooks_with_team_scope(
    bootstrap: str, receiver: Receiver, start_bridge: StartBridge
) -> None:
    secret, api_key = "avoma-signing-secret", "avoma-receiver-api-key"
    marketing = [{**e, "callId": "call-000002", "team": "marketing"} for e in CALLS[2:]]
    run_example("avoma", bootstrap, receiver, start_bridge, 3,
                {"WEBHOOK_SECRET": secret, "RECEIVER_API_KEY": api_key},
                events=CALLS + marketing)
    for request in receiver.requests:
        # Avoma: HMAC-SHA256 of the raw payload with the signing secret, in X-Avoma-Signature
        assert hmac.compare_digest(_hex(secret, request.body),
                                   request.headers["x-avoma-signature"])
        assert request.headers["x-api-key"] == api_key
    by_hook: dict[str, list[tuple[str, str]]] = {}
    for request in receiver.requests:
        call = request.json()["call"]
        by_hook.setdefault(request.headers["x-avoma-webhook"], []).append(
            (call["team"], call["status"]))
    # call started: every member; call ended: only the sales and support teams
    assert sorted(by_hook["avoma-call-started"]) == [("marketing", "in-progress"),
                                                     ("sales", "in-progress")]
    assert by_hook["avoma-call-ended"] == [("sales", "ended")]


def test_audian_with_rotation(
    bootstrap: str, receiver: Receiver, start_bridge: StartBridge
) -> None:
    secret, previous = "whsec_newarandom1234567890", "whsec_abcdef1234567890"
    run_example("audian", bootstrap, receiver, start_bridge, 4,
                {"WEBHOOK_SECRET": secret, "WEBHOOK_SECRET_PREVIOUS": previous})
    for request in receiver.requests:
        timestamp = request.headers["x-audian-timestamp"]
        # Audian's Python recipe: raw body
        signed = f"{timestamp}.{request.body.decode()}".encode()
        assert request.headers["x-audian-signature"] == _hex(secret, signed)
        # Audian's Node recipe: JSON.stringify(req.body) must give back the same bytes
        restringified = json.dumps(json.loads(request.body), separators=(",", ":"),
                                   ensure_ascii=False)
        assert restringified.encode() == request.body
        # rotation: the previous secret's signature in the companion header
        assert request.headers["x-audian-signature-previous"] == _hex(previous, signed)
        assert int(timestamp) > 1_700_000_000
    events = [r.json()["event"] for r in receiver.requests]
    assert events == ["call.queued", "call.ringing", "call.in-progress", "call.completed"]
    assert receiver.requests[-1].json()["data"]["end_reason"] == "customer-ended-call"
    assert receiver.requests[0].headers["webhook-payload-version"] == "v1"


def test_standard_webhooks_with_rotation(
    bootstrap: str, receiver: Receiver, start_bridge: StartBridge
) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    previous = "whsec_" + base64.b64encode(b"p" * 32).decode()
    run_example("standard-webhooks", bootstrap, receiver, start_bridge, 4,
                {"WEBHOOK_SECRET": secret, "WEBHOOK_SECRET_PREVIOUS": previous})
    for request in receiver.requests:
        for key in (secret, previous):  # either key verifies, with the published library
            payload = Webhook(key).verify(request.body, request.headers)
            assert payload["data"]["callId"] == "call-000001"
        assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert [r.json()["type"] for r in receiver.requests] == [
        "call.queued", "call.ringing", "call.in-progress", "call.ended"]
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(other).verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_auvious_oauth_notification_headers_and_per_state_fields(
    bootstrap: str, receiver: Receiver, start_bridge: StartBridge
) -> None:
    secret, client_secret, custom = "auvious-hmac-key", "auvious-client-secret", "hdr-secret-1"
    tokens = Receiver(lambda _: Reply(200, body=b'{"access_token":"tok-A","token_type":"Bearer",'
                                              b'"expires_in":3600}'))
    try:
        run_example("auvious", bootstrap, receiver, start_bridge, 3, {
            "WEBHOOK_SECRET": secret, "OAUTH_TOKEN_URL": tokens.url,
            "OAUTH_CLIENT_ID": "auvious-client", "OAUTH_CLIENT_SECRET": client_secret,
            "CUSTOM_SECRET_HEADER": custom,
        })
    finally:
        tokens.close()
    assert len(tokens.requests) == 1
    assert dict(parse_qsl(tokens.requests[0].body.decode()))["grant_type"] == "client_credentials"
    for request in receiver.requests:
        assert request.headers["x-signature"] == _hex(secret, request.body)
        assert request.headers["authorization"] == "Bearer tok-A"
        assert request.headers["x-auvious-source"] == "kafkahooks"
        assert request.headers["x-auvious-secret"] == custom
        assert request.headers["x-origin-channel"] == "web-widget"
        assert request.headers["x-appointment-context"] == "open-house"
        assert "x-not-allowed" not in request.headers
        assert request.json()["metadata"] == {"crmId": "CRM-1001", "channel": "web"}
    bodies = [r.json() for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["call.scheduled", "call.started", "call.completed"]
    assert "scheduledAt" in bodies[0] and "endedAt" not in bodies[1]
    assert bodies[2]["endedReason"] == "customer-ended-call"


def test_avanser_realtime_get_and_final_form_and_xml(
    bootstrap: str, receiver: Receiver, start_bridge: StartBridge
) -> None:
    secret = "avanser-secret"
    run_example("avanser", bootstrap, receiver, start_bridge, 6, {
        "WEBHOOK_SECRET": secret, "AVANSER_TOKEN": "avanser-bearer",
        "AVANSER_USERNAME": "acme", "AVANSER_PASSWORD": "avanser-password",
    })
    realtime = [r for r in receiver.requests if r.method == "GET"]
    form = [r for r in receiver.requests if r.headers.get("x-avanser-webhook") == "final"]
    xml = [r for r in receiver.requests if r.headers.get("x-avanser-webhook") == "final-xml"]
    assert (len(realtime), len(form), len(xml)) == (4, 1, 1)
    for request in realtime:
        query = urlsplit(request.path).query  # signed: the query string as sent
        assert request.headers["x-signature"] == _hex(secret, query.encode())
        assert request.headers["authorization"] == "Bearer avanser-bearer"
        params = dict(parse_qsl(query))
        assert params["uniqueid"] == "call-000001" == request.headers["x-avanser-uniqueid"]
        assert params["status"] == request.headers["x-avanser-status"]
    assert [dict(parse_qsl(urlsplit(r.path).query))["status"] for r in realtime] == [
        "queued", "ringing", "in-progress", "ended"]
    basic = "Basic " + base64.b64encode(b"acme:avanser-password").decode()
    for request in form + xml:
        assert request.headers["x-signature"] == _hex(secret, request.body)
        assert request.headers["authorization"] == basic
    fields = dict(parse_qsl(form[0].body.decode()))
    assert form[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert fields["uniqueid"] == "call-000001" and fields["status"] == "ended"
    assert fields["source"] == "kafkahooks" and fields["metadata[crmId]"] == "CRM-1001"
    root = ElementTree.fromstring(xml[0].body)
    assert root.tag == "call" and root.findtext("reason") == "customer-ended-call"
    assert root.findtext("metadata/channel") == "web"
