"""Http1Sender, the default delivery client, against raw loopback servers.

The servers here write the exact bytes each test needs (chunked bodies, interim
answers, garbage, connections closed at awkward moments), and count the
connections they accept and the ends of stream they see, so pooling and
closing are observed from the wire, as a receiver would see them.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest

from kafkahooks.config.endpoint import TlsConfig
from kafkahooks.delivery import http1
from kafkahooks.delivery.errors import PermanentDeliveryError, RetryableDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.http1 import Http1Sender, _target
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response
from kafkahooks.delivery.tls import ssl_context
from tests.support.certs import ScratchCA
from tests.support.resolver import LoopbackOnly, StubResolver

OPEN = TargetPolicy(allow_insecure=True, allow_private=True)


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    target: str
    headers: list[tuple[str, str]]  # names lower-cased, in arrival order
    body: bytes

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


async def _read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    line, *lines = head.decode("utf-8").split("\r\n")[:-2]
    method, target, _ = line.split(" ")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines)]
    length = int(next((v for k, v in headers if k == "content-length"), "0"))
    return Seen(method, target, headers, await reader.readexactly(length))


@dataclass
class Peer:
    """The server's side of one accepted connection."""

    server: RawServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    seen: list[Seen] = field(default_factory=list)

    async def request(self) -> Seen | None:
        """The next request, or ``None`` once the client ended the stream."""
        seen = await _read_request(self.reader)
        if seen is None:
            self.server.eofs += 1
        else:
            self.seen.append(seen)
            self.server.requests.append(seen)
        return seen

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_eof(self) -> None:
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.server.eofs += 1


Handler = Callable[[Peer], Awaitable[None]]


def reply(status: int = 200, body: bytes = b"ok", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"content-length: {len(body)}"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode() + body


def answering(answer: Callable[[Seen], bytes], close: bool = False) -> Handler:
    """Answer every request on a connection; ``close``: end it after the first answer
    (without saying ``connection: close``)."""

    async def handle(peer: Peer) -> None:
        while (seen := await peer.request()) is not None:
            await peer.send(answer(seen))
            if close:
                return

    return handle


class RawServer:
    """A loopback HTTP/1.1 server whose connection handling is the test's ``handler``."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0  # accepted
        self.eofs = 0  # connections the client ended
        self.requests: list[Seen] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            await self.handler(Peer(self, reader, writer))
        except ConnectionError:
            pass
        finally:
            writer.close()


def request(url: str, body: bytes = b"{}", headers: dict[str, str] | None = None,
            method: str = "POST", timeout: float = 2.0, **fields: Any) -> OutboundRequest:
    return OutboundRequest(method, url, headers or {}, body, timeout, policy=OPEN, **fields)


async def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


Scenario = Callable[[Http1Sender], Coroutine[Any, Any, None]]


def run(scenario: Scenario, sender: Http1Sender | None = None) -> None:
    async def go() -> None:
        client = sender or Http1Sender()
        try:
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(go())


# -- what arrives, what comes back ------------------------------------------------------

def test_a_post_arrives_with_its_exact_body_headers_and_framing() -> None:
    body = '{"name":"Zoë","emoji":"📞"}'.encode() + bytes(range(256))
    headers = {
        "x-signature": "abc123", "content-type": "application/json",
        # framing is the client's own: a route's values never reach the wire
        "Host": "evil.test", "Content-Length": "1", "Transfer-Encoding": "chunked",
        "Connection": "close",
    }

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            response = await sender.send(request(server.url("/hooks?tenant=7"), body, headers))
            assert response == Response(200, None, b"ok")
            [seen] = server.requests
            assert (seen.method, seen.target, seen.body) == ("POST", "/hooks?tenant=7", body)
            assert seen.values("host") == [f"127.0.0.1:{server.port}"]
            assert seen.values("content-length") == [str(len(body))]
            assert seen.values("x-signature") == ["abc123"]
            assert seen.values("content-type") == ["application/json"]
            assert seen.values("transfer-encoding") == seen.values("connection") == []
            [agent] = seen.values("user-agent")
            assert agent.startswith("kafkahooks/")

    run(scenario)


def test_a_route_user_agent_replaces_the_default_one() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            await sender.send(request(server.url(), headers={"User-Agent": "acme-bridge/2"}))
            assert server.requests[0].values("user-agent") == ["acme-bridge/2"]

    run(scenario)


def test_a_get_sends_its_query_and_no_body() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply(204, b""))) as server:
            response = await sender.send(
                request(server.url("/hooks?id=1&status=ended"), b"ignored", method="GET"))
            assert response.status == 204
            [seen] = server.requests
            assert (seen.method, seen.target, seen.body) == ("GET", "/hooks?id=1&status=ended", b"")
            assert seen.values("content-length") == []

    run(scenario)


def test_a_url_with_spaces_or_non_ascii_arrives_percent_encoded() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            await sender.send(request(server.url("/in box/événements?q=x y&sig=a%2Fb")))
            assert server.requests[0].target == "/in%20box/%C3%A9v%C3%A9nements?q=x%20y&sig=a%2Fb"

    run(scenario)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:99999/x", "target URL port"),
    ("http://127.0.0.1:abc/x", "target URL port"),
    ("http:///x", "no host"),
    ("ftp://127.0.0.1/x", "unsupported target URL scheme"),
])
def test_an_unusable_url_is_a_permanent_failure(url: str, reason: str) -> None:
    async def scenario(sender: Http1Sender) -> None:
        with pytest.raises(PermanentDeliveryError, match=reason):
            await sender.send(request(url))

    run(scenario)


def test_status_retry_after_and_the_first_2048_bytes_of_the_body_come_back() -> None:
    body = bytes(range(256)) * 12  # 3072 bytes

    async def scenario(sender: Http1Sender) -> None:
        answer = reply(503, body, "Retry-After: 7", "content-type: application/octet-stream")
        async with RawServer(answering(lambda _: answer)) as server:
            response = await sender.send(request(server.url()))
            assert response == Response(503, "7", body[:2048])

    run(scenario)


def test_a_name_is_resolved_through_the_resolver_once_and_its_address_connected() -> None:
    resolver, sockets = StubResolver("127.0.0.1"), LoopbackOnly()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            url = f"http://hooks.customer.test:{server.port}/in"
            for _ in range(2):
                assert (await sender.send(request(url))).status == 200
            assert [s.values("host") for s in server.requests] == [
                [f"hooks.customer.test:{server.port}"]] * 2
            assert resolver.lookups == ["hooks.customer.test"]  # cached between deliveries
            assert [info[4] for info in sockets.opened] == [("127.0.0.1", server.port)]

    run(scenario, Http1Sender(resolver=resolver, socket_factory=sockets))


# -- keep-alive ----------------------------------------------------------------------------

def test_sequential_requests_share_one_connection() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda seen: reply(200, seen.body))) as server:
            for i in range(50):
                response = await sender.send(request(server.url(), str(i).encode()))
                assert response.body == str(i).encode()
            assert server.connections == 1 and len(server.requests) == 50

    run(scenario)


def test_concurrent_requests_open_a_connection_each_and_reuse_them_afterwards() -> None:
    async def burst(sender: Http1Sender, url: str) -> None:
        bodies = [str(i).encode() for i in range(20)]
        responses = await asyncio.gather(*(sender.send(request(url, b)) for b in bodies))
        assert [r.body for r in responses] == bodies  # each answer went to its own request

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda seen: reply(200, seen.body))) as server:
            await burst(sender, server.url())
            opened = server.connections
            assert opened <= 20
            await burst(sender, server.url())
            assert server.connections == opened and server.eofs == 0

    run(scenario)


def test_idle_connections_beyond_max_connections_are_closed() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            await asyncio.gather(*(sender.send(request(server.url())) for _ in range(10)))
            await eventually(lambda: server.eofs == server.connections - 4)

    run(scenario, Http1Sender(max_connections=4))


def test_one_origin_gets_at_most_its_share_of_connections_in_arrival_order() -> None:
    """Many customers' endpoints share an origin: it gets ``max_per_origin`` requests at
    once, the rest wait their turn, and another origin is not held up meanwhile."""
    in_flight, peak = 0, 0

    async def slow(peer: Peer) -> None:
        nonlocal in_flight, peak
        while (seen := await peer.request()) is not None:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1
            await peer.send(reply(200, seen.body))

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(slow) as busy, RawServer(answering(lambda _: reply())) as other:
            bodies = [str(i).encode() for i in range(12)]
            crowd = asyncio.gather(*(sender.send(request(busy.url(), b)) for b in bodies))
            await asyncio.sleep(0.01)
            assert (await sender.send(request(other.url()))).status == 200  # not queued
            assert [r.body for r in await crowd] == bodies
            assert peak == 3 and busy.connections == 3
            assert [seen.body for seen in busy.requests] == bodies  # first come, first served

    run(scenario, Http1Sender(max_per_origin=3))


def test_aclose_closes_idle_connections() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            await asyncio.gather(*(sender.send(request(server.url())) for _ in range(3)))
            assert server.eofs == 0
            await sender.aclose()
            await eventually(lambda: server.eofs == server.connections == 3)

    run(scenario)


# -- connections the server ends -----------------------------------------------------------

def test_a_server_that_closes_after_each_answer_costs_no_failed_delivery() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda s: reply(200, s.body), close=True)) as server:
            for i in range(5):
                response = await sender.send(request(server.url(), str(i).encode()))
                assert response == Response(200, None, str(i).encode())
            assert server.connections == 5

    run(scenario)


async def _answer_once_then_drop_the_next(peer: Peer) -> None:
    """An idle timeout that strikes just as the client reuses the connection."""
    seen = await peer.request()
    if seen is not None:
        await peer.send(reply(200, seen.body))
        await peer.request()  # arrives, is never answered: the connection just closes


def test_a_reused_connection_closed_before_any_answer_is_retried_on_a_fresh_one() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(_answer_once_then_drop_the_next) as server:
            for i in range(3):
                response = await sender.send(request(server.url(), str(i).encode()))
                assert response == Response(200, None, str(i).encode())
            # the 2nd and 3rd requests each arrived twice: dropped, then answered
            assert [s.body for s in server.requests] == [b"0", b"1", b"1", b"2", b"2"]
            assert server.connections == 3

    run(scenario)


def test_a_reused_connection_closed_mid_answer_is_not_retried() -> None:
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(reply())
        if await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart")

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            await sender.send(request(server.url()))
            with pytest.raises(RetryableDeliveryError):
                await sender.send(request(server.url()))
            assert len(server.requests) == 2 and server.connections == 1

    run(scenario)


def test_a_fresh_connection_closed_without_an_answer_is_not_retried() -> None:
    async def handle(peer: Peer) -> None:
        await peer.request()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            with pytest.raises(RetryableDeliveryError):
                await sender.send(request(server.url()))
            assert len(server.requests) == 1 and server.connections == 1

    run(scenario)


def test_connection_close_in_the_answer_is_honoured() -> None:
    async def scenario(sender: Http1Sender) -> None:
        answer = reply(200, b"ok", "connection: close")
        async with RawServer(answering(lambda _: answer)) as server:
            for _ in range(3):
                assert (await sender.send(request(server.url()))).status == 200
            assert server.connections == 3
            await eventually(lambda: server.eofs == 3)  # the client hung up each time

    run(scenario)


# -- response framing ----------------------------------------------------------------------

CHUNKED = (b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nretry-after: 3\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")


def test_a_chunked_answer_is_read_and_its_connection_reused() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: CHUNKED)) as server:
            for _ in range(2):
                response = await sender.send(request(server.url()))
                assert response == Response(201, "3", b"hello world")
            assert server.connections == 1

    run(scenario)


def test_an_answer_sent_in_small_pieces_is_read_whole() -> None:
    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            for i in range(len(CHUNKED)):
                await peer.send(CHUNKED[i:i + 1])
                await asyncio.sleep(0)

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            for _ in range(2):
                assert await sender.send(request(server.url())) == Response(
                    201, "3", b"hello world")
            assert server.connections == 1

    run(scenario)


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\n",
])
def test_a_body_delimited_by_closing_the_connection_is_read_to_the_end(head: bytes) -> None:
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(head + b"read until ")
            await asyncio.sleep(0.02)
            await peer.send(b"the end")

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            for _ in range(2):
                assert await sender.send(request(server.url())) == Response(
                    200, None, b"read until the end")
            assert server.connections == 2

    run(scenario)


def test_an_interim_100_continue_is_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + reply(200, b"done")

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: answer)) as server:
            for _ in range(2):
                assert await sender.send(request(server.url())) == Response(200, None, b"done")
            assert server.connections == 1

    run(scenario)


def test_a_1mb_answer_keeps_2048_bytes_and_its_connection() -> None:
    body = bytes(range(256)) * 4096

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply(200, body))) as server:
            for _ in range(2):
                assert (await sender.send(request(server.url()))).body == body[:2048]
            assert server.connections == 1

    run(scenario)


# -- failures ------------------------------------------------------------------------------

def test_a_server_that_never_answers_times_out_and_is_hung_up_on() -> None:
    async def silent(peer: Peer) -> None:
        await peer.request()
        await peer.until_eof()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(silent) as server:
            with pytest.raises(RetryableDeliveryError) as caught:
                await sender.send(request(server.url(), timeout=0.3))
            assert caught.value.reason == "TimeoutError: no response"
            await eventually(lambda: server.eofs == 1)

    run(scenario)


def test_a_timeout_on_a_reused_connection_spends_that_connection() -> None:
    async def answer_once(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(reply())
        await peer.until_eof()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answer_once) as server:
            await sender.send(request(server.url()))
            with pytest.raises(RetryableDeliveryError):
                await sender.send(request(server.url(), timeout=0.3))
            await eventually(lambda: server.eofs == 1)
            # a late answer can never be read as the next request's: that one goes fresh
            assert (await sender.send(request(server.url()))).status == 200
            assert server.connections == 2

    run(scenario)


@pytest.mark.parametrize("garbage", [
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
])
def test_a_server_that_sends_garbage_fails_retryably_without_naming_the_url(
    garbage: bytes,
) -> None:
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(garbage)
        await peer.until_eof()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            with pytest.raises(RetryableDeliveryError) as caught:
                await sender.send(request(server.url("/secret-path?token=t0k3n")))
            reason = caught.value.reason
            assert "127.0.0.1" not in reason and str(server.port) not in reason
            assert "secret" not in reason and "t0k3n" not in reason
            await eventually(lambda: server.eofs == 1)  # the broken connection is closed

    run(scenario)


def test_a_refused_connection_fails_retryably() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    async def scenario(sender: Http1Sender) -> None:
        with pytest.raises(RetryableDeliveryError) as caught:
            await sender.send(request(f"http://127.0.0.1:{port}/hooks"))
        assert caught.value.reason == "ConnectionRefusedError: no response"

    run(scenario)


def test_a_redirect_is_returned_not_followed() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as elsewhere:
            moved = reply(302, b"", f"location: {elsewhere.url('/stolen')}")
            async with RawServer(answering(lambda _: moved)) as server:
                response = await sender.send(request(server.url()))
                assert response.status == 302
                assert len(server.requests) == 1 and elsewhere.connections == 0

    run(scenario)


@pytest.mark.parametrize("headers", [
    {"x-note": "a\r\nx-injected: yes"},
    {"x-note": "a\nx-injected: yes"},
    {"x-note": "a\rx-injected: yes"},
    {"x-note\r\nx-injected": "yes"},
])
def test_a_line_break_in_a_header_is_refused_before_sending(headers: dict[str, str]) -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            with pytest.raises(PermanentDeliveryError, match="line break"):
                await sender.send(request(server.url(), headers=headers))
            assert server.connections == 0
            # the sender is unharmed: the next clean request goes through
            assert (await sender.send(request(server.url()))).status == 200
            assert all(not s.values("x-injected") for s in server.requests)

    run(scenario)


@pytest.mark.parametrize(("url", "host", "host_header"), [
    ("https://bücher.example/x", "xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("http://[::1]:8080/x", "::1", "[::1]:8080"),
    ("https://Hooks.Example.test:443/x", "hooks.example.test", "hooks.example.test"),
    ("http://user:secret@hooks.test:8080/x", "hooks.test", "hooks.test:8080"),
    # one spelling (guard.normalize_host) for DNS, SNI, the pool and Host
    ("https://straße.de/x", "xn--strae-oqa.de", "xn--strae-oqa.de"),
    ("https://hooks.example.test./x", "hooks.example.test", "hooks.example.test"),
    ("https://My_Host.Example.com/x", "my_host.example.com", "my_host.example.com"),
    ("http://2130706433:8080/x", "127.0.0.1", "127.0.0.1:8080"),
    ("http://０ｘ７ｆ。１/x", "127.0.0.1", "127.0.0.1"),
    ("http://[::FFFF:0:7F00:1]/x", "::ffff:0:7f00:1", "[::ffff:0:7f00:1]"),
])
def test_host_header_uses_a_labels_brackets_and_no_userinfo(
    url: str, host: str, host_header: str
) -> None:
    target, _path = _target(url)
    assert (target.host, target.host_header) == (host, host_header)


def test_a_number_spelling_of_an_address_is_that_address_for_connect_and_host() -> None:
    sockets = LoopbackOnly()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            for host in ("2130706433", "0x7f.1", "127.1", "１２７。０。０。１"):
                assert (await sender.send(request(server.url(host=host)))).status == 200
            assert {s.values("host")[0] for s in server.requests} == {f"127.0.0.1:{server.port}"}
            assert {info[4] for info in sockets.opened} == {("127.0.0.1", server.port)}
            assert server.connections == 1  # one origin, one pool

    run(scenario, Http1Sender(resolver=StubResolver("10.9.9.9"), socket_factory=sockets))


# -- the response head's caps (issue 11, section 3) ---------------------------------------

def _head(*fields: str, status: str = "200 OK") -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", "content-length: 2", *fields])
            + "\r\n\r\n").encode() + b"ok"


@pytest.mark.parametrize(("answer", "pieces"), [
    (_head(*(f"x-{i}: v" for i in range(100))), 0),  # 101 fields with content-length
    (_head("x-big: " + "v" * 8200), 0),  # one field over 8 KiB
    (_head(*(f"x-{i}: " + "v" * 8000 for i in range(9))), 0),  # 72 KiB over 9 fields
    (_head(status="200 " + "K" * 70_000), 0),  # a status line over 64 KiB
    (_head("x-big: " + "v" * 20_000), 512),  # a long field trickled in pieces
    (_head("x-flood: " + "v" * (4 << 20)), 0),  # 4 MiB in one field
], ids=["fields", "field", "total", "status-line", "trickled", "flood"])
def test_a_response_head_over_its_caps_fails_retryably_and_closes(
    answer: bytes, pieces: int,
) -> None:
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            step = pieces or len(answer)
            try:
                for i in range(0, len(answer), step):
                    await peer.send(answer[i:i + step])
            except ConnectionError:  # the client hung up with our bytes unread
                peer.server.eofs += 1
                return
        await peer.until_eof()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            with pytest.raises(RetryableDeliveryError) as caught:
                await sender.send(request(server.url()))
            # the reason names the cap that was hit (our words, never the receiver's bytes)
            assert re.fullmatch(
                r"ResponseHeadTooLarge: .* over (100 header fields|8 KiB|64 KiB)",
                caught.value.reason,
            )
            await eventually(lambda: server.eofs == 1)  # the connection is closed

    run(scenario)


def test_a_head_just_within_the_caps_is_read() -> None:
    answer = _head(*(f"x-{i:02}: " + "v" * 600 for i in range(99)))  # 99 + content-length
    assert 60_000 < len(answer) < 64 * 1024

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: answer)) as server:
            for _ in range(2):
                assert await sender.send(request(server.url())) == Response(200, None, b"ok")
            assert server.connections == 1

    run(scenario)


def test_a_large_body_after_a_small_head_in_one_read_is_not_counted_as_head() -> None:
    body = b"b" * 300_000

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply(200, body))) as server:
            response = await sender.send(request(server.url(), response_limit=100_000))
            assert response == Response(200, None, body[:100_000])

    run(scenario)


def test_the_request_response_limit_bounds_the_body_kept() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply(200, b"0123456789" * 10))) as server:
            assert (await sender.send(request(server.url(), response_limit=10))).body == (
                b"0123456789")
            assert (await sender.send(request(server.url()))).body == b"0123456789" * 10
            assert server.connections == 1  # the rest was read: the connection stays usable

    run(scenario)


# -- desync: the answer is the final response, and only it (issue 11, section 5) ------------

def test_a_503_followed_by_extra_bytes_stays_a_503_and_the_connection_is_closed() -> None:
    async def scenario(sender: Http1Sender) -> None:
        answer = reply(503, b"busy") + reply(200, b"forged")
        async with RawServer(answering(lambda _: answer)) as server:
            response = await sender.send(request(server.url()))
            assert response == Response(503, None, b"busy")
            await eventually(lambda: server.eofs == 1)  # out of turn: never pooled
            assert (await sender.send(request(server.url()))).status == 503
            assert server.connections == 2

    run(scenario)


def test_bytes_on_an_idle_connection_close_it_and_the_next_answer_is_read_as_sent() -> None:
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(reply())
            await asyncio.sleep(0.05)
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-smuggled: ")  # unasked
        await peer.until_eof()

    async def fresh(peer: Peer) -> None:
        await (handle if peer.server.connections == 1 else answering(lambda _: reply(503)))(peer)

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(fresh) as server:
            assert (await sender.send(request(server.url()))).status == 200
            await eventually(lambda: server.eofs == 1)  # the client hung up on it
            assert (await sender.send(request(server.url()))).status == 503
            assert server.connections == 2

    run(scenario)


@pytest.mark.parametrize("partial", [
    b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\npart",
    b"HTTP/1.0 200 OK\r\ncontent-length: 10\r\n\r\npart",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n",
], ids=["content-length", "http/1.0", "chunked"])
def test_a_body_cut_short_by_the_peers_close_is_a_failure(partial: bytes) -> None:
    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(partial)

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            with pytest.raises(RetryableDeliveryError) as caught:
                await sender.send(request(server.url()))
            assert caught.value.reason == "ConnectionResetError: no response"

    run(scenario)


def test_an_interim_103_is_skipped_with_its_headers() -> None:
    answer = (b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\nretry-after: 99\r\n\r\n"
              + reply(503, b"later", "retry-after: 5"))

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: answer)) as server:
            for _ in range(2):
                assert await sender.send(request(server.url())) == Response(503, "5", b"later")
            assert server.connections == 1

    run(scenario)


def test_a_101_upgrade_is_a_permanent_failure_without_a_fatal_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
              b"connection: upgrade\r\n\r\n")

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(answer + b"\x81\x05hello")
        await peer.until_eof()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(handle) as server:
            with pytest.raises(PermanentDeliveryError, match="unexpected upgrade") as caught:
                await sender.send(request(server.url()))
            assert caught.value.status == 101
            await eventually(lambda: server.eofs == 1)

    with caplog.at_level("WARNING"):
        run(scenario)
    assert [r for r in caplog.records if r.levelno >= 30] == []


# -- pools: idle timeout, lifetime, one cap (issue 11, section 6) ----------------------------

def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            await sender.send(request(server.url()))
            await eventually(lambda: server.eofs == 1)  # nobody sent again: closed all the same
            assert (await sender.send(request(server.url()))).status == 200
            assert server.connections == 2

    run(scenario, Http1Sender(idle_timeout=0.2))


def test_a_connection_is_not_reused_past_its_maximum_lifetime() -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            await sender.send(request(server.url()))
            await asyncio.sleep(0.4)
            await sender.send(request(server.url()))
            assert server.connections == 2
            await eventually(lambda: server.eofs >= 1)

    run(scenario, Http1Sender(max_lifetime=0.3, idle_timeout=60))


def test_max_connections_caps_open_connections_over_all_pools() -> None:
    release = asyncio.Event()
    open_now = peak = 0

    async def slow(peer: Peer) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while await peer.request() is not None:
                await release.wait()
                await peer.send(reply())
        finally:
            open_now -= 1

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(slow) as busy, RawServer(answering(lambda _: reply())) as other:
            sends = [asyncio.create_task(sender.send(request(busy.url()))) for _ in range(5)]
            await eventually(lambda: busy.connections == 2)
            await asyncio.sleep(0.1)
            assert busy.connections == 2  # the other three wait for a connection
            release.set()
            assert [r.status for r in await asyncio.gather(*sends)] == [200] * 5
            # at the cap, a new origin takes the place of the connection idle the longest
            assert (await sender.send(request(other.url()))).status == 200
            await eventually(lambda: busy.eofs == 1)
            assert peak == 2 and busy.connections == 2 and other.connections == 1

    run(scenario, Http1Sender(max_connections=2))


# -- Happy Eyeballs over the checked addresses ---------------------------------------------

def test_a_black_holed_first_address_does_not_spend_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stub connect never answers for 127.0.0.2 (and never connects anything for it)."""
    tried: list[str] = []

    def sockets(info: Any) -> socket.socket:
        assert info[4][0] in ("127.0.0.1", "127.0.0.2")
        return socket.socket(info[0], info[1], info[2])

    async def scenario(sender: Http1Sender) -> None:
        loop = asyncio.get_running_loop()
        real = loop.sock_connect

        async def connect(sock: socket.socket, address: Any) -> None:
            tried.append(address[0])
            if address[0] == "127.0.0.2":
                await asyncio.Event().wait()  # a black hole: no answer, ever
            await real(sock, address)

        monkeypatch.setattr(loop, "sock_connect", connect)
        async with RawServer(answering(lambda _: reply())) as server:
            url = f"http://hooks.customer.test:{server.port}/in"
            assert (await sender.send(request(url, timeout=2.0))).status == 200
        assert tried == ["127.0.0.2", "127.0.0.1"]

    run(scenario, Http1Sender(resolver=StubResolver("127.0.0.2", "127.0.0.1"),
                              socket_factory=sockets))


# -- the contract: what every delivery gets from this client (issue 11, section 8) ----------

SPELLINGS = ["127.0.0.1", "１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "2130706433", "0x7f.1",
             "0177.0.0.1", "127.1", "127.0.0.1.", "[::ffff:127.0.0.1]", "[::127.0.0.1]",
             "[::ffff:0:127.0.0.1]", "[2002:7f00:1::1]", "[64:ff9b::7f00:1]"]


@pytest.mark.parametrize("host", SPELLINGS)
@pytest.mark.parametrize("url_check", [True, False], ids=["with-url-check", "connect-path-only"])
def test_contract_the_guard_runs_in_the_connect_path_for_every_spelling(
    host: str, url_check: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the early URL check switched off, the connect path alone still refuses:
    no socket is made for a loopback address, however it is spelled."""
    if not url_check:
        monkeypatch.setattr(http1, "check_authority", lambda url, policy: None)
    sockets = LoopbackOnly()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as server:
            with pytest.raises(PermanentDeliveryError, match="is a loopback address") as caught:
                await sender.send(OutboundRequest(
                    "POST", server.url(host=host), {}, b"{}", 2.0,
                    policy=TargetPolicy(allow_insecure=True)))
            assert "allow_private" in caught.value.reason
            assert sockets.opened == [] and server.connections == 0

    run(scenario, Http1Sender(resolver=StubResolver("127.0.0.1"), socket_factory=sockets))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "::ffff:0:a9fe:a9fe", "fec0::1",
                                     "64:ff9b:1::a00:1"])
def test_contract_a_name_is_checked_on_every_address_it_resolves_to(
    address: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http1, "check_authority", lambda url, policy: None)
    sockets = LoopbackOnly()
    resolver = StubResolver("93.184.215.14", address)  # one bad address refuses the name

    async def scenario(sender: Http1Sender) -> None:
        with pytest.raises(PermanentDeliveryError, match=r"hooks\.customer\.test \("):
            await sender.send(OutboundRequest("POST", "https://hooks.customer.test/x", {}, b"{}",
                                              2.0))
        assert resolver.lookups == ["hooks.customer.test"] and sockets.opened == []

    run(scenario, Http1Sender(resolver=resolver, socket_factory=sockets))


def test_contract_one_deadline_covers_the_whole_attempt() -> None:
    """A receiver that trickles a byte every 20 ms never goes quiet long enough for a
    per-read timeout; the attempt's deadline ends it all the same."""
    answer = reply(200, b"x" * 200)

    async def trickle(peer: Peer) -> None:
        if await peer.request() is not None:
            for i in range(len(answer)):
                await peer.send(answer[i:i + 1])
                await asyncio.sleep(0.02)

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(trickle) as server:
            with pytest.raises(RetryableDeliveryError) as caught:
                await sender.send(request(server.url(), timeout=0.5))
            assert caught.value.reason == "TimeoutError: no response"

    run(scenario)


def test_contract_environment_proxies_are_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply())) as proxy, \
                RawServer(answering(lambda _: reply())) as server:
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                         "http_proxy", "https_proxy", "all_proxy"):
                monkeypatch.setenv(name, proxy.url("/"))
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            assert (await sender.send(request(server.url()))).status == 200
            assert len(server.requests) == 1 and proxy.connections == 0

    run(scenario)


@pytest.fixture
def scratch_ca(tmp_path: Any) -> ScratchCA:
    return ScratchCA(tmp_path)


def _tls_server(ca: ScratchCA) -> ssl.SSLContext:
    issued = ca.issue("receiver", server=True)  # valid for localhost and 127.0.0.1
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert, issued.key)
    return context


def test_contract_per_route_tls_and_the_trailing_dot_host(scratch_ca: ScratchCA) -> None:
    """The route's CA is trusted and the system's is not; ``localhost.`` is verified as
    ``localhost`` (normalised before SNI); a certificate failure is retryable."""
    route_tls = ssl_context(TlsConfig(ca_bundle=scratch_ca.bundle))
    sockets = LoopbackOnly()

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply()), tls=_tls_server(scratch_ca)) as server:
            for host in ("localhost", "localhost.", "LOCALHOST."):
                response = await sender.send(request(server.url(host=host), ssl=route_tls))
                assert response.status == 200
            for host in ("localhost", "impostor.test"):
                context = None if host == "localhost" else route_tls  # system trust; wrong name
                with pytest.raises(RetryableDeliveryError) as caught:
                    await sender.send(request(server.url(host=host), ssl=context))
                assert caught.value.reason == "SSLCertVerificationError: no response"
            assert len(server.requests) == 3 and server.connections == 1

    run(scenario, Http1Sender(resolver=StubResolver("127.0.0.1"), socket_factory=sockets))


def test_a_reloaded_routes_tls_context_finds_its_pool(scratch_ca: ScratchCA) -> None:
    """A reload builds a new SSLContext from the same settings: same pool, no new connection."""
    config = TlsConfig(ca_bundle=scratch_ca.bundle)

    async def scenario(sender: Http1Sender) -> None:
        async with RawServer(answering(lambda _: reply()), tls=_tls_server(scratch_ca)) as server:
            for _ in range(3):
                context = ssl_context(config)  # what each reload builds anew
                assert (await sender.send(request(server.url(), ssl=context))).status == 200
            assert server.connections == 1 and server.eofs == 0

    run(scenario)
