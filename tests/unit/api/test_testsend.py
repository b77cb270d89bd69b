"""``POST …/endpoints/{id}/test``: a signed sample sent to a loopback receiver, shown back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import standardwebhooks
from fastapi.testclient import TestClient

from tests.support.receiver import Receiver, Reply
from tests.unit.api.conftest import Api

PRIVATE = "10.20.30.40"  # a stub answer only: the guard refuses it before any connect


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()
    yield box
    box.close()


def _local_endpoint(api: Api, receiver: Receiver) -> tuple[TestClient, str, str]:
    api.ctx.allow_local = True  # the receiver is plain http on loopback
    acme = api.client(api.tenant_token("acme"))
    answer = acme.post("/v1/endpoints", json={"url": receiver.url})
    assert answer.status_code == 201, answer.text
    return acme, answer.json()["id"], answer.json()["signing_secret"]


def test_a_test_send_is_signed_and_its_answer_shown(api: Api, receiver: Receiver) -> None:
    acme, eid, secret = _local_endpoint(api, receiver)
    sent = acme.post(f"/v1/endpoints/{eid}/test", json={"event_type": "status-changed"})
    assert sent.status_code == 200, sent.text
    result = sent.json()
    assert result["status"] == 200 and result["error"] is None
    assert result["response_excerpt"] == '{"received":true}'
    assert result["event_id"].startswith("evt_test_") and result["route"] == "call-status"
    assert result["event_type"] == "status-changed" and result["latency_ms"] >= 0
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == result["event_id"]
    standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    assert request.json()["event"] == "status-changed"
    assert secret not in sent.text


def test_an_error_answer_is_shown_escaped(api: Api, receiver: Receiver) -> None:
    receiver.behaviour = lambda _: Reply(400, body=b"bad \x1b[31mthing\n")
    acme, eid, _ = _local_endpoint(api, receiver)
    result = acme.post(f"/v1/endpoints/{eid}/test").json()
    assert result["status"] == 400 and result["error"] == "HTTP 400"
    assert result["response_excerpt"] == "bad \\x1b[31mthing\\n"


def test_at_most_ten_test_sends_per_endpoint_per_minute(api: Api, receiver: Receiver) -> None:
    acme, eid, _ = _local_endpoint(api, receiver)
    for _ in range(10):
        assert acme.post(f"/v1/endpoints/{eid}/test").status_code == 200
    refused = acme.post(f"/v1/endpoints/{eid}/test")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert len(receiver.requests) == 10


def test_a_refused_target_says_not_a_public_address_whether_or_not_the_name_exists(
    api: Api,
) -> None:
    acme = api.client(api.tenant_token("acme"))
    eid = api.create(acme)["id"]  # https://hooks.acme.example/…: resolved public at write
    api.resolver.names["hooks.acme.example"] = [PRIVATE]  # now it names a private address
    private = acme.post(f"/v1/endpoints/{eid}/test").json()
    del api.resolver.names["hooks.acme.example"]  # now it does not resolve
    missing = acme.post(f"/v1/endpoints/{eid}/test").json()
    for result in (private, missing):
        assert result["error"] == "not a public address" and result["status"] is None
        assert PRIVATE not in str(result)


def test_test_sends_are_tenant_scoped_and_check_the_event_type(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    other = api.client(api.tenant_token("other"))
    eid = api.create(acme)["id"]
    assert other.post(f"/v1/endpoints/{eid}/test").status_code == 404
    bad = acme.post(f"/v1/endpoints/{eid}/test", json={"event_type": "no-such-type"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "event_type"
    assert acme.post(f"/v1/endpoints/{eid}/test", json={"tenant": "x"}).status_code == 422
