"""HTTPS end to end: a loopback receiver with a certificate from a test CA that only the
route's own ``ca_bundle`` trusts, requiring a client certificate (mTLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafkahooks.delivery.errors import RetryableDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import AiohttpSender
from tests.support.bridge import BridgeProcess, routes_file, simple_route
from tests.support.certs import ScratchCA
from tests.support.kafka import create_topic, produce, unique
from tests.support.receiver import Receiver, verify_hex_signature

SECRET = "tls-route-secret"


@pytest.fixture
def ca(tmp_path: Path) -> ScratchCA:
    return ScratchCA(tmp_path)


@pytest.fixture
def tls_receiver(ca: ScratchCA) -> Iterator[Receiver]:
    server = ca.issue("receiver", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.bundle))
    context.load_cert_chain(server.cert, server.key)
    context.verify_mode = ssl.CERT_REQUIRED  # mTLS: no client certificate, no request
    receiver = Receiver(tls=context)
    yield receiver
    receiver.close()


def test_delivery_over_mtls_with_a_private_ca(
    bootstrap: str, tls_receiver: Receiver, ca: ScratchCA, tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    client = ca.issue("kafkahooks", server=False)
    topic, group = create_topic(bootstrap, unique("tls")), unique("g")
    produce(bootstrap, topic, [("k", {"event": "status-changed", "id": i, "status": "ended"})
                               for i in range(3)])
    assert tls_receiver.url.startswith("https://127.0.0.1:")
    route = simple_route("calls", topic, tls_receiver.url, SECRET, endpoint={
        "url": tls_receiver.url, "timeout": 5,
        "tls": {"ca_bundle": str(ca.bundle), "client_cert": str(client.cert),
                "client_key": str(client.key)},
    })
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))
    tls_receiver.wait_count(3)
    assert bridge.terminate() == 0
    assert [r.json()["id"] for r in tls_receiver.requests] == [0, 1, 2]
    assert all(verify_hex_signature(r, SECRET) for r in tls_receiver.requests)


def test_the_system_trust_store_does_not_trust_the_test_ca(tls_receiver: Receiver) -> None:
    async def send() -> None:
        sender = AiohttpSender()
        request = OutboundRequest("POST", tls_receiver.url, {}, b"{}", 3.0,
                                  policy=TargetPolicy(allow_private=True))
        try:
            await sender.send(request)
        finally:
            await sender.aclose()

    with pytest.raises(RetryableDeliveryError):
        asyncio.run(send())
    assert tls_receiver.requests == []
