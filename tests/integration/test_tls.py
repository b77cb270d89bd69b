"""HTTPS end to end: a loopback receiver with a certificate from a test CA that only the
route's own ``ca_bundle`` trusts, requiring a client certificate (mTLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafkahooks.config.endpoint import TlsConfig
from kafkahooks.delivery.errors import RetryableDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response, Sender
from kafkahooks.delivery.tls import ssl_context
from tests.support.bridge import BridgeProcess, routes_file, simple_route
from tests.support.certs import ScratchCA
from tests.support.kafka import create_topic, produce, unique
from tests.support.receiver import Receiver, verify_hex_signature
from tests.support.resolver import LoopbackOnly, StubResolver

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


@pytest.mark.parametrize("make_sender", [Http1Sender])
def test_the_system_trust_store_does_not_trust_the_test_ca(
    tls_receiver: Receiver, make_sender: Callable[[], Sender],
) -> None:
    async def send() -> None:
        sender = make_sender()
        request = OutboundRequest("POST", tls_receiver.url, {}, b"{}", 3.0,
                                  policy=TargetPolicy(allow_private=True))
        try:
            await sender.send(request)
        finally:
            await sender.aclose()

    with pytest.raises(RetryableDeliveryError):
        asyncio.run(send())
    assert tls_receiver.requests == []


def _send_all(sender: Sender, requests: list[OutboundRequest]) -> list[Response | Exception]:
    async def go() -> list[Response | Exception]:
        results: list[Response | Exception] = []
        try:
            for request in requests:
                try:
                    results.append(await sender.send(request))
                except RetryableDeliveryError as exc:
                    results.append(exc)
        finally:
            await sender.aclose()
        return results

    return asyncio.run(go())


def _route_tls(ca: ScratchCA, client_cert: bool = True) -> ssl.SSLContext:
    client = ca.issue("kafkahooks", server=False)
    config = TlsConfig(ca_bundle=ca.bundle, client_cert=client.cert if client_cert else None,
                       client_key=client.key if client_cert else None)
    context = ssl_context(config)
    assert context is not None
    return context


def test_http1_sender_uses_the_routes_ca_and_client_certificate(
    tls_receiver: Receiver, ca: ScratchCA,
) -> None:
    context = _route_tls(ca)
    requests = [OutboundRequest("POST", tls_receiver.url, {}, b'{"n":%d}' % i, 3.0,
                                policy=TargetPolicy(allow_private=True), ssl=context)
                for i in range(3)]
    results = _send_all(Http1Sender(), requests)
    assert [r.status for r in results if isinstance(r, Response)] == [200, 200, 200]
    assert [r.json()["n"] for r in tls_receiver.requests] == [0, 1, 2]


def test_http1_sender_without_a_client_certificate_is_turned_away_by_mtls(
    tls_receiver: Receiver, ca: ScratchCA,
) -> None:
    request = OutboundRequest("POST", tls_receiver.url, {}, b"{}", 3.0,
                              policy=TargetPolicy(allow_private=True),
                              ssl=_route_tls(ca, client_cert=False))
    [result] = _send_all(Http1Sender(), [request])
    assert isinstance(result, RetryableDeliveryError)
    assert tls_receiver.requests == []


def test_http1_sender_checks_the_url_host_name_against_the_certificate(
    tls_receiver: Receiver, ca: ScratchCA,
) -> None:
    context, port = _route_tls(ca), tls_receiver.port
    resolver = StubResolver("127.0.0.1")  # both names lead to the receiver; its cert has one
    requests = [OutboundRequest("POST", f"https://{host}:{port}/hooks", {}, b"{}", 3.0,
                                policy=TargetPolicy(allow_private=True), ssl=context)
                for host in ("localhost", "impostor.test")]
    results = _send_all(Http1Sender(resolver=resolver, socket_factory=LoopbackOnly()), requests)
    assert isinstance(results[0], Response) and results[0].status == 200
    assert isinstance(results[1], RetryableDeliveryError)
    assert results[1].reason.startswith("SSLCertVerificationError")
    assert resolver.lookups == ["localhost", "impostor.test"]
    assert len(tls_receiver.requests) == 1
