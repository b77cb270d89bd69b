"""The management API against the real broker: two replicas over one store topic.

Each replica is the real app (``create_app``) on uvicorn on a loopback port, over its
own :func:`~kafkahooks.api.open_api_store` (read to the end, then followed) and its own
audit producer — what ``kafkahooks api`` runs, in this process so that a stub resolver
can be given (nothing is looked up: the test names resolve to a fixed public address
that is never connected to).  One case runs the real command as a process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from kafkahooks.app import store_properties
from kafkahooks.kafka import ensure_topics, producer_properties
from tests.support.api import (
    PUBLIC,
    ApiServer,
    NameResolver,
    admin_config,
    free_port,
    routes_doc,
    routes_file,
)
from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import (
    GROUP_TIMINGS,
    create_topic,
    headers_of,
    produce,
    read_topic,
    unique,
)
from tests.support.receiver import Receiver, Reply
from tests.support.store import StoreWriter

URL = "https://hooks.acme.example/in?key=p4th-s3cret"
ADMIN = new_token("admin1")


class Replicas:
    def __init__(self, bootstrap: str, store: StoreWriter, audit_topic: str) -> None:
        self.config = routes_file(
            bootstrap=bootstrap, topic=store.topic, keys=store.keys,
            **admin_config(ADMIN.id, ADMIN.sha256, audit_topic=audit_topic, write_burst=1000),
        )  # fmt: skip
        self.audit_topic = audit_topic
        self.resolver = NameResolver({"hooks.acme.example": [PUBLIC]})
        self.closers: list[Callable[[], None]] = []
        self.contexts: list[ApiContext] = []
        self.servers = [self._start() for _ in range(2)]

    def _start(self) -> ApiServer:
        config = self.config
        assert config.api is not None
        store = open_api_store(config, TokenTable(config.api.admin_tokens), 30)
        audit = KafkaAudit(producer_properties(config.kafka), config.api.audit_topic)
        log_topic = config.kafka.delivery_log_topic
        assert log_topic is not None
        ensure_topics(producer_properties(config.kafka), [log_topic])
        attempts = open_endpoint_attempts(store_properties(config), log_topic, timeout=30)
        ctx = ApiContext(config.api, config, store, audit, self.resolver,
                         catalogue=build_catalogue(config), attempts=attempts)  # fmt: skip
        self.contexts.append(ctx)
        server = ApiServer(ctx)
        self.closers += [store.close, audit.close, attempts.close, server.close]
        return server

    def client(self, which: int, token: str = ADMIN.value) -> httpx.Client:
        return self.servers[which].client(token)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


@pytest.fixture
def replicas(bootstrap: str, store: StoreWriter) -> Iterator[Replicas]:
    audit_topic = create_topic(bootstrap, unique("audit"), partitions=1)
    pair = Replicas(bootstrap, store, audit_topic)
    yield pair
    pair.close()


def _tenant_token(replicas: Replicas, tenant: str) -> tuple[str, int]:
    with replicas.client(0) as admin:
        answer = admin.post(f"/v1/tenants/{tenant}/tokens", json={"description": "ci"})
    assert answer.status_code == 201, answer.text
    return answer.json()["token"], int(answer.headers["Kafkahooks-Store-Offset"])


def test_write_through_one_replica_read_through_the_other(replicas: Replicas) -> None:
    token, issued_at = _tenant_token(replicas, "acme")
    with replicas.client(0, token) as a, replicas.client(1, token) as b:
        fresh = {"Kafkahooks-Min-Offset": str(issued_at)}
        assert b.get("/v1/endpoints", headers=fresh).status_code == 200  # B knows the token
        created = a.post("/v1/endpoints", json={"url": URL, "event_types": ["status-changed"]})
        assert created.status_code == 201, created.text
        eid, offset = created.json()["id"], created.headers["Kafkahooks-Store-Offset"]
        assert created.headers["ETag"] == f'"{offset}"'
        got = b.get(f"/v1/endpoints/{eid}", headers={"Kafkahooks-Min-Offset": offset})
        assert got.status_code == 200 and got.json()["offset"] == int(offset)
        assert created.json()["signing_secret"] not in got.text

        patched = b.patch(f"/v1/endpoints/{eid}", json={"active": False},
                          headers={"If-Match": got.headers["ETag"]})  # fmt: skip
        assert patched.status_code == 200, patched.text
        seen = a.get(
            f"/v1/endpoints/{eid}",
            headers={"Kafkahooks-Min-Offset": patched.headers["Kafkahooks-Store-Offset"]},
        )
        assert seen.json()["active"] is False  # fmt: skip

        rotated = a.post(f"/v1/endpoints/{eid}/secret/rotate", json={"expire_previous": "now"})
        assert rotated.status_code == 200
        with replicas.client(1) as admin:
            secret = admin.get(
                f"/v1/tenants/acme/endpoints/{eid}/secret",
                headers={"Kafkahooks-Min-Offset": rotated.headers["ETag"].strip('"')},
            )
        assert [s["signing_secret"] for s in secret.json()["secrets"]] == [
            rotated.json()["signing_secret"]
        ]

        deleted = b.delete(f"/v1/endpoints/{eid}")
        assert deleted.status_code == 204
        gone = a.get(
            f"/v1/endpoints/{eid}",
            headers={"Kafkahooks-Min-Offset": deleted.headers["Kafkahooks-Store-Offset"]},
        )
        assert gone.status_code == 404  # fmt: skip


def test_revocation_reaches_every_replica_within_two_seconds(replicas: Replicas) -> None:
    token, issued_at = _tenant_token(replicas, "acme")
    with replicas.client(0, token) as a, replicas.client(1, token) as b:
        assert (
            b.get("/v1/endpoints", headers={"Kafkahooks-Min-Offset": str(issued_at)}).status_code
            == 200
        )
        with replicas.client(0) as admin:
            revoked = admin.delete(f"/v1/tenants/acme/tokens/{token.split('_')[1]}")
        assert revoked.status_code == 204
        assert a.get("/v1/endpoints").status_code == 401  # the replica that wrote it: at once
        deadline = time.monotonic() + 2.0  # the window the README states
        while b.get("/v1/endpoints").status_code != 401:
            assert time.monotonic() < deadline, "replica B still accepts a revoked token"
            time.sleep(0.05)


def test_concurrent_writes_of_one_version_leave_exactly_one_winner(replicas: Replicas) -> None:
    token, issued_at = _tenant_token(replicas, "acme")
    with replicas.client(0, token) as a, replicas.client(1, token) as b:
        b.get("/v1/endpoints", headers={"Kafkahooks-Min-Offset": str(issued_at)})
        created = a.post("/v1/endpoints", json={"url": URL}).json()
        etag = f'"{created["offset"]}"'
        b.get(
            f"/v1/endpoints/{created['id']}",
            headers={"Kafkahooks-Min-Offset": str(created["offset"])},
        )

        def patch(i: int) -> tuple[int, str]:
            client = (a, b)[i % 2]
            answer = client.patch(f"/v1/endpoints/{created['id']}", json={"description": f"w{i}"},
                                  headers={"If-Match": etag})  # fmt: skip
            return answer.status_code, f"w{i}"

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(patch, range(6)))
        winners = [name for status, name in results if status == 200]
        assert len(winners) == 1, results
        assert {status for status, _ in results} <= {200, 409, 412}
        final = a.get(f"/v1/endpoints/{created['id']}").json()
        wait_until(
            lambda: a.get(f"/v1/endpoints/{created['id']}").json()["description"] == winners[0], 10
        )
        assert final["id"] == created["id"]


def test_idempotent_create_through_two_replicas(replicas: Replicas) -> None:
    token, _ = _tenant_token(replicas, "acme")
    headers = {"Idempotency-Key": "signup-7"}
    with replicas.client(0, token) as a, replicas.client(1, token) as b:
        first = a.post("/v1/endpoints", json={"url": URL}, headers=headers)
        assert first.status_code == 201
        after = str(first.json()["offset"])
        again = b.post(
            "/v1/endpoints", json={"url": URL}, headers={**headers, "Kafkahooks-Min-Offset": after}
        )
        assert again.status_code == 201 and again.json() == first.json()
        listed = b.get("/v1/endpoints").json()["data"]
        assert [e["id"] for e in listed] == [first.json()["id"]]


def test_tenant_isolation_and_the_audit_trail(replicas: Replicas, bootstrap: str) -> None:
    acme, _ = _tenant_token(replicas, "acme")
    globex, _ = _tenant_token(replicas, "globex")
    with replicas.client(0, acme) as a, replicas.client(1, globex) as g:
        spec = {"url": URL, "description": "acme's own",
                "secret_headers": {"Authorization": "Bearer zz-s3cret"}}  # fmt: skip
        created = a.post("/v1/endpoints", json=spec)
        eid = created.json()["id"]
        fresh = {"Kafkahooks-Min-Offset": str(created.json()["offset"])}
        assert g.get(f"/v1/endpoints/{eid}", headers=fresh).status_code == 404
        assert g.get(f"/v1/tenants/acme/endpoints/{eid}").status_code == 404
        assert g.get("/v1/endpoints").json()["data"] == []
        assert g.delete(f"/v1/endpoints/{eid}").status_code == 404
    records = [json.loads(m.value()) for m in read_topic(bootstrap, replicas.audit_topic, 8)]
    mine = [r for r in records if r.get("endpoint_id") == eid]
    assert [r["kind"] for r in mine] == ["intent", "outcome"]
    assert mine[0]["fields"] == ["description", "secret_headers", "url"]
    assert mine[1]["offset"] == created.json()["offset"] and mine[1]["result"] == "applied"
    text = json.dumps(records)
    for secret in (created.json()["signing_secret"], "zz-s3cret", "p4th-s3cret", "acme's own",
                   acme.split("_")[2], globex.split("_")[2]):  # fmt: skip
        assert secret not in text


def test_pages_through_a_replica_while_another_edits(replicas: Replicas) -> None:
    token, _ = _tenant_token(replicas, "acme")
    with replicas.client(0, token) as a, replicas.client(1, token) as b:
        ids = [
            a.post("/v1/endpoints", json={"url": URL, "description": str(i)}).json()["id"]
            for i in range(6)
        ]
        last = a.get(f"/v1/endpoints/{ids[-1]}").json()["offset"]
        page = b.get(
            "/v1/endpoints", params={"limit": 2}, headers={"Kafkahooks-Min-Offset": str(last)}
        ).json()
        seen = [e["id"] for e in page["data"]]
        a.delete(f"/v1/endpoints/{ids[0]}")
        a.patch(f"/v1/endpoints/{ids[3]}", json={"description": "edited"})
        while page["next_cursor"]:
            page = b.get("/v1/endpoints", params={"limit": 2, "cursor": page["next_cursor"]}).json()
            seen += [e["id"] for e in page["data"]]
        assert seen == sorted(ids)


def test_the_command_serves_the_api(tmp_path: Path, bootstrap: str, store: StoreWriter) -> None:
    """``kafkahooks api --config FILE`` as an operator starts it."""
    port = free_port()
    api = admin_config(ADMIN.id, ADMIN.sha256, listen=f"127.0.0.1:{port}")
    doc = routes_doc(bootstrap=bootstrap, topic=store.topic, keys="${KH_TEST_KEYS}", **api)
    config = tmp_path / "routes.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {**os.environ, "KH_TEST_KEYS": store.keys, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "kafkahooks.cli.main", "api", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(lambda: up() or process.poll() is not None, 30)
        assert process.poll() is None, process.communicate()[1][-2000:]
        headers = {"Authorization": f"Bearer {ADMIN.value}"}
        issued = httpx.post(f"{url}/v1/tenants/acme/tokens", headers=headers, json={}, timeout=10)
        assert issued.status_code == 201, issued.text
        types = httpx.get(f"{url}/v1/event-types", headers=headers, timeout=10).json()
        assert types[0]["type"] == "status-changed"
        assert httpx.get(f"{url}/openapi.json", timeout=10).json()["info"]["title"]
        link = httpx.post(f"{url}/v1/tenants/acme/portal-sessions", headers=headers, timeout=10)
        assert link.status_code == 201, link.text
        opened = httpx.get(link.json()["url"], timeout=10)  # the portal, served by the command
        assert opened.status_code == 200 and "kafkahooks_portal=" in opened.headers["set-cookie"]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert "store loaded in" in err and "delivery log read in" in err
    assert issued.json()["token"] not in err
    assert link.json()["url"].split("link=")[1] not in err  # nor a sign-in link


def test_the_command_refuses_a_config_without_the_api_section(
    tmp_path: Path, bootstrap: str
) -> None:
    doc: dict[str, Any] = routes_doc(bootstrap=bootstrap)
    del doc["api"]
    config = tmp_path / "routes.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli.main", "api", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "no api section" in done.stderr


def _attempts(client: httpx.Client, eid: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/endpoints/{eid}/attempts")
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_a_customer_registers_receives_and_rotates_with_a_tenant_token_only(
    replicas: Replicas, bootstrap: str, tmp_path: Path, start_bridge: Callable[..., BridgeProcess]
) -> None:
    """Through two API replicas and two bridge replicas: register from code, receive
    verified webhooks, rotate the secret without one failed verification."""
    for ctx in replicas.contexts:
        ctx.allow_local = True  # the receiver is on loopback (the bridges allow it too)
    receiver = Receiver()
    try:
        topic, group = create_topic(bootstrap, unique("calls")), unique("g")
        store = replicas.config.endpoint_store
        assert store is not None
        doc = routes_doc(bootstrap=bootstrap, topic=store.topic,
                         keys=store.encryption_keys.get_secret_value())  # fmt: skip
        del doc["api"]
        doc["kafka"].update(group_id=group, properties=dict(GROUP_TIMINGS))
        doc["routes"][0].update(topics=[topic], retry={"max_attempts": 1})
        config = tmp_path / "bridge.yaml"
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
        token, _ = _tenant_token(replicas, "acme")
        with replicas.client(0, token) as a, replicas.client(1, token) as b:
            created = a.post("/v1/endpoints", json={"url": receiver.url,
                                                    "event_types": ["status-changed"]})  # fmt: skip
            assert created.status_code == 201, created.text
            first_secret = created.json()["signing_secret"]
            bridges = [start_bridge(config), start_bridge(config)]
            event = {"event": "status-changed", "companionId": "acme", "data": {"status": "up"}}
            produce(bootstrap, topic, [(f"call-{i}", event) for i in range(4)])
            receiver.wait_count(4)
            for request in receiver.requests:
                standardwebhooks.Webhook(first_secret).verify(request.body, request.headers)

            eid = created.json()["id"]
            # the bridges logged the attempts; replica B's read model follows the log
            delivered = {r.headers["webhook-id"] for r in receiver.requests}
            wait_until(lambda: len(_attempts(b, eid)) >= 4, 20)
            shown = _attempts(b, eid)
            assert {a["event_id"] for a in shown} == delivered
            assert {a["status"] for a in shown} == {200}
            stats = b.get(f"/v1/endpoints/{eid}/stats").json()
            assert stats["deliveries"] >= 4 and stats["failures"] == 0
            assert "bucket" in stats["method"]

            fresh = {"Kafkahooks-Min-Offset": str(created.json()["offset"])}
            rotated = b.post(f"/v1/endpoints/{eid}/secret/rotate",
                             json={"expire_previous": "1h"}, headers=fresh)  # fmt: skip
            assert rotated.status_code == 200, rotated.text
            new_secret = rotated.json()["signing_secret"]
            # the bridges follow the store: once they sign with the new secret, both verify
            deadline = time.monotonic() + 30
            while True:
                produce(bootstrap, topic, [("call-x", event)])
                receiver.wait_count(len(receiver.requests) + 1)
                last = receiver.requests[-1]
                standardwebhooks.Webhook(first_secret).verify(last.body, last.headers)
                try:
                    standardwebhooks.Webhook(new_secret).verify(last.body, last.headers)
                    break
                except standardwebhooks.WebhookVerificationError:
                    assert time.monotonic() < deadline, (
                        "the bridges never signed with the new secret"
                    )
            for bridge in bridges:
                assert bridge.terminate() == 0, bridge.output()
    finally:
        receiver.close()


def test_recover_resends_an_endpoints_dead_letters_with_their_event_ids(
    replicas: Replicas, bootstrap: str, tmp_path: Path, start_bridge: Callable[..., BridgeProcess]
) -> None:
    """Dead-lettered while the endpoint answered 400; fixed; recovered through the API:
    every event arrives once more with its original webhook-id, sent by one bridge."""
    for ctx in replicas.contexts:
        ctx.allow_local = True  # the receiver is on loopback (the bridges allow it too)
    receiver = Receiver(lambda _: Reply(400, body=b"bad request"))
    try:
        topic, group = create_topic(bootstrap, unique("calls")), unique("g")
        store = replicas.config.endpoint_store
        assert store is not None
        doc = routes_doc(bootstrap=bootstrap, topic=store.topic,
                         keys=store.encryption_keys.get_secret_value())  # fmt: skip
        del doc["api"]
        doc["kafka"].update(group_id=group, properties=dict(GROUP_TIMINGS))
        doc["routes"][0].update(topics=[topic], retry={"max_attempts": 1})
        config = tmp_path / "bridge.yaml"
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
        token, _ = _tenant_token(replicas, "acme")
        with replicas.client(0, token) as a, replicas.client(1, token) as b:
            created = a.post("/v1/endpoints", json={"url": receiver.url})
            assert created.status_code == 201, created.text
            eid, secret = created.json()["id"], created.json()["signing_secret"]
            bridges = [start_bridge(config), start_bridge(config)]
            since = time.time() - 1
            event = {"event": "status-changed", "companionId": "acme", "data": {"status": "up"}}
            produce(bootstrap, topic, [(f"call-{i}", event) for i in range(3)])
            dead = read_topic(bootstrap, f"{topic}.dlq", expect=3, timeout=30)
            assert {headers_of(m)["kafkahooks.endpoint_id"] for m in dead} == {eid}
            first_ids = {r.headers["webhook-id"] for r in receiver.requests}
            assert len(first_ids) == 3

            receiver.behaviour = lambda _: Reply(200)  # the customer fixed the endpoint
            started = a.post(f"/v1/endpoints/{eid}/recover", json={"since": since})
            assert started.status_code == 202, started.text
            job = started.json()["job"]
            fresh = {"Kafkahooks-Min-Offset": started.headers["Kafkahooks-Store-Offset"]}
            again = b.post(f"/v1/endpoints/{eid}/recover", json={"since": since}, headers=fresh)
            assert again.status_code == 409, again.text

            def done() -> bool:
                shown = b.get(f"/v1/endpoints/{eid}/recover/{job}")
                assert shown.status_code == 200, shown.text
                return bool(shown.json()["state"] == "done")

            wait_until(done, 60)
            shown = b.get(f"/v1/endpoints/{eid}/recover/{job}").json()
            assert shown["resent"] == 3 and shown["scanned"] >= 3 and shown["finished"]
            receiver.wait_count(6, timeout=60)
            again_ids = [r.headers["webhook-id"] for r in receiver.requests[3:]]
            assert sorted(again_ids) == sorted(first_ids)  # once each, original ids
            for request in receiver.requests[3:]:
                standardwebhooks.Webhook(secret).verify(request.body, request.headers)
            time.sleep(1)  # (a second runner would re-send within its tick: none must)
            assert len(receiver.requests) == 6
            for bridge in bridges:
                assert bridge.terminate() == 0, bridge.output()
    finally:
        receiver.close()
