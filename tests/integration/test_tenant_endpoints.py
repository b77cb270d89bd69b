"""A real bridge with a route that has ``endpoints:``, against real receivers on loopback.

The endpoints are written into the real store topic (``tests/support/store.py``) before
the bridge starts; the bridge reads the store to its end before it consumes anything.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import standardwebhooks
from pydantic import SecretStr

from kafkahooks.endpoints import SigningSecret
from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import (
    committed,
    create_topic,
    headers_of,
    produce,
    read_topic,
    unique,
)
from tests.support.receiver import Receiver, Reply
from tests.support.store import StoreWriter, new_endpoint, tenant_config

CURRENT = "whsec_" + base64.b64encode(b"tenant-endpoint-current-secret-1").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"tenant-endpoint-previous-secret0").decode()
GLOBEX = "whsec_" + base64.b64encode(b"globex-endpoint-secret-000000001").decode()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver, Receiver]]:
    servers = (Receiver(), Receiver(lambda _: Reply(400, body=b"no")), Receiver())
    yield servers
    for server in servers:
        server.close()


def _config(path: Path, bootstrap: str, group: str, topic: str, store: StoreWriter) -> Path:
    return tenant_config(
        path, bootstrap, group, topic, store,
        route={"retry": {"max_attempts": 1}}, dead_letter_limit={"enabled": False},
    )  # fmt: skip


def test_each_event_reaches_its_tenants_endpoints_only(
    bootstrap: str,
    store: StoreWriter,
    receivers: tuple[Receiver, Receiver, Receiver],
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    acme_ok, acme_refusing, globex = receivers
    # acme: two endpoints; the first in the middle of a secret rotation
    rotating = new_endpoint("acme", acme_ok.url, secret=CURRENT)
    previous = SigningSecret(SecretStr(PREVIOUS), expires=4_000_000_000)
    store.write(replace(rotating, secrets=(*rotating.secrets, previous)), -1)
    acme_400_id = store.create("acme", acme_refusing.url, secret=CURRENT).id
    store.create("7", globex.url, secret=GLOBEX)
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    events: list[tuple[str | None, object]] = [
        ("a", {"event": "call.ended", "id": 1, "account": "acme"}),
        ("b", {"event": "call.ended", "id": 2, "account": 7}),  # an integer tenant
        ("a", {"event": "call.ended", "id": 3, "account": "acme"}),
        ("c", {"event": "call.ended", "id": 4}),  # no tenant
    ]
    produce(bootstrap, topic, events)
    bridge = start_bridge(_config(tmp_path / "r.yaml", bootstrap, group, topic, store))

    acme_ok.wait_count(2)
    globex.wait_count(1)
    dead = read_topic(bootstrap, f"{topic}.dlq", 3, timeout=30)
    wait_until(lambda: committed(bootstrap, group, topic) == [4], timeout=20)
    assert bridge.terminate() == 0, bridge.output()

    assert sorted(r.json()["id"] for r in acme_ok.requests) == [1, 3]
    assert sorted(r.json()["id"] for r in acme_refusing.requests) == [1, 3]
    assert [r.json()["id"] for r in globex.requests] == [2]
    # one webhook id per event, whichever endpoint it went to
    ids = {r.json()["id"]: r.headers["webhook-id"] for r in acme_ok.requests}
    assert {r.json()["id"]: r.headers["webhook-id"] for r in acme_refusing.requests} == ids
    # the rotating endpoint's receiver accepts the signature with either secret
    for request in acme_ok.requests:
        for secret in (CURRENT, PREVIOUS):
            standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    standardwebhooks.Webhook(GLOBEX).verify(globex.requests[0].body, globex.requests[0].headers)

    letters = sorted((headers_of(m) for m in dead), key=lambda h: h["kafkahooks.source.offset"])
    assert [h.get("kafkahooks.endpoint_id") for h in letters] == [acme_400_id, acme_400_id, None]
    assert letters[2]["kafkahooks.error.message"] == "no-tenant"
    for h in letters[:2]:
        assert h["kafkahooks.endpoint"] == acme_refusing.url.rsplit("/", 1)[0]  # origin only
        assert "/hooks" not in "".join(h.values())


def test_a_tenant_route_with_a_malformed_encryption_key_is_refused_at_start(
    bootstrap: str,
    store: StoreWriter,
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    # the route needs the store; the store's key is no AES key: refused, the key not shown
    config = _config(tmp_path / "r.yaml", bootstrap, unique("g"), unique("calls"), store)
    config.write_text(config.read_text().replace(store.keys, "k1:not-base64-s3cr3t"))
    bridge = start_bridge(config)
    assert bridge.wait(30) == 2
    output = bridge.output()
    assert "encryption key 1 of 1 ('k1')" in output, output[-2000:]
    assert "s3cr3t" not in output


def _replay(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
        "KAFKAHOOKS_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kafkahooks.cli",
            "dlq",
            "replay",
            "--config",
            str(config),
            "--route",
            "calls",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_sends_a_dead_letter_to_its_endpoint_only(
    bootstrap: str,
    store: StoreWriter,
    receivers: tuple[Receiver, Receiver, Receiver],
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    ok, refusing, _ = receivers
    store.create("acme", ok.url, secret=CURRENT)
    refusing_id = store.create("acme", refusing.url, secret=CURRENT).id
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    produce(
        bootstrap,
        topic,
        [
            ("a", {"event": "call.ended", "id": 1, "account": "acme"}),
            ("b", {"event": "call.ended", "id": 2}),
        ],
    )  # no tenant
    config = _config(tmp_path / "r.yaml", bootstrap, group, topic, store)
    bridge = start_bridge(config)
    read_topic(bootstrap, f"{topic}.dlq", 2, timeout=30)
    wait_until(lambda: committed(bootstrap, group, topic) == [1 + 1], timeout=20)
    assert bridge.terminate() == 0, bridge.output()
    first_id = refusing.requests[0].headers["webhook-id"]

    refusing.behaviour = lambda _: Reply(200)  # the customer fixed their endpoint
    done = _replay(config, "--endpoint", refusing_id)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "delivered 1" in done.stdout and "other events 1" in done.stdout
    assert len(ok.requests) == 1  # the endpoint that took it is not sent it again
    assert [r.headers["webhook-id"] for r in refusing.requests] == [first_id, first_id]
    standardwebhooks.Webhook(CURRENT).verify(
        refusing.requests[1].body, refusing.requests[1].headers
    )
