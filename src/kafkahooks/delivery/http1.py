"""The delivery fast path: a small HTTP/1.1 client on asyncio transports.

Why not aiohttp's ``ClientSession``: on these machines it costs ~150 µs of CPU
per request (request/response objects, multidicts, tracing, timers), which is
most of a delivery's budget; this client costs ~30 µs (``bench/http_clients.py``).
It does only what a webhook delivery needs, and leaves the hard parts to
libraries: response parsing to httptools (llhttp, the parser of Node.js and
uvicorn), sockets and TLS to asyncio.

Contract (same as the other senders): keep-alive pool, redirects never
followed, the timeout covers connect + send + the whole response, at most
2 KiB of the response body kept.  One request per connection at a time (no
pipelining), no decompression (no ``accept-encoding`` is sent).

Names resolve through the guard and the socket connects to the checked
address; TLS verifies the URL's host name (SNI) against the route's context
or the system trust store.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from kafkahooks.delivery.errors import PermanentDeliveryError, classify_transport_error
from kafkahooks.delivery.guard import GuardedResolver, TargetRefused, check_url
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import USER_AGENT, Response

__all__ = ["Http1Sender", "ProtocolError"]

SocketFactory = Callable[[Any], socket.socket]

BODY_KEPT = 2048
DNS_TTL = 60.0
# set by the client itself: a route's headers never override message framing
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# RFC 3986 path and query characters, and "%" so existing escapes stay as written
_URL_SAFE = "/?%:@!$&'()*+,;="


class ProtocolError(Exception):
    """The peer's answer is not HTTP/1.x we can read."""


@dataclass(frozen=True, slots=True)
class _Target:
    tls: bool
    host: str  # as resolved and verified (no brackets)
    port: int
    path: str  # request target: path and query
    host_header: str


@functools.lru_cache(maxsize=1024)  # per delivery: a route's URL is parsed once
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise PermanentDeliveryError(f"unsupported target URL scheme {parts.scheme!r}")
    if not parts.hostname:
        raise PermanentDeliveryError("target URL has no host")
    try:
        explicit_port = parts.port
    except ValueError as exc:  # out of range, or not a number
        raise PermanentDeliveryError(f"target URL port: {exc}") from None
    tls = parts.scheme == "https"
    port = explicit_port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path = quote(path, safe=_URL_SAFE)  # a space or non-ASCII would break the request line
    host = parts.hostname
    if not host.isascii():  # an internationalised name: DNS, SNI and Host take its A-labels
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise PermanentDeliveryError("target URL host is not a valid name") from None
    shown = f"[{host}]" if ":" in host else host  # userinfo is never sent
    default_port = explicit_port is None or explicit_port == (443 if tls else 80)
    host_header = shown if default_port else f"{shown}:{explicit_port}"
    return _Target(tls, host, port, path, host_header)


def _encode(method: str, target: _Target, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1\r\nhost: {target.host_header}\r\n"]
    agent = False
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _FRAMING:
            continue
        agent = agent or lowered == "user-agent"
        lines.append(f"{name}: {value}\r\n")
    if not agent:
        lines.append(f"user-agent: {USER_AGENT}\r\n")
    if body or method not in ("GET", "HEAD"):
        lines.append(f"content-length: {len(body)}\r\n")
    lines.append("\r\n")
    head = "".join(lines)
    # a line break inside a name or value would smuggle a header: one per line only
    breaks = len(lines) + 1  # the first item holds two lines
    if head.count("\n") != breaks or head.count("\r") != breaks:
        raise PermanentDeliveryError("a header name or value contains a line break")
    return head.encode("utf-8") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and awaits its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.retry_after: str | None = None
        self.body = bytearray()
        self.keep_alive = False
        self.answered = False  # any byte of the answer arrived
        self._headers_done = False

    # -- asyncio.Protocol --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"unreadable HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._headers_done and not self.keep_alive:
            self._complete()  # a body delimited by the end of the connection
        else:
            self._fail(ConnectionResetError("connection closed before the response ended"))

    # -- httptools callbacks -------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if len(self.body) < BODY_KEPT:
            self.body += body[: BODY_KEPT - len(self.body)]

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # an interim answer: the real one follows
            self._headers_done = False
            return
        self._complete()

    # -- use -----------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def exchange(self, data: bytes) -> None:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.status, self.retry_after, self.body = 0, None, bytearray()
        self.answered = self._headers_done = False
        self.transport.write(data)
        await self._waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)


class _Pool:
    """Idle keep-alive connections to one origin, most recently used first."""

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self.idle: deque[_Connection] = deque()

    def take(self) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable:
                return conn
        return None

    def give_back(self, conn: _Connection) -> None:
        if conn.keep_alive and conn.usable and len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


@functools.cache  # made once: loading the trust store takes milliseconds
def _system_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


PoolKey = tuple[bool, str, int, "ssl.SSLContext | None", bool]


class Http1Sender:
    """The default sender.  ``resolver`` and ``socket_factory`` are for tests."""

    def __init__(
        self,
        max_connections: int = 200,
        resolver: AbstractResolver | None = None,
        socket_factory: SocketFactory | None = None,
    ) -> None:
        self._max_idle = max_connections
        self._resolver = resolver  # the default needs a running loop: made on first use
        self._resolvers: dict[bool, AbstractResolver] = {}
        self._socket_factory = socket_factory
        self._pools: dict[PoolKey, _Pool] = {}
        self._dns: dict[tuple[str, int, bool], tuple[float, list[ResolveResult]]] = {}

    async def send(self, request: OutboundRequest) -> Response:
        policy = request.policy
        try:
            check_url(request.url, policy)  # scheme, and IP literals (never resolved)
            target = _target(request.url)
            body = request.body if request.method != "GET" else b""
            data = _encode(request.method, target, request.headers, body)
            context = (request.ssl or _system_tls()) if target.tls else None
            guarded = not policy.allow_private
            key = (target.tls, target.host, target.port, context, guarded)
            pool = self._pools.get(key) or self._pools.setdefault(key, _Pool(self._max_idle))
            async with asyncio.timeout(request.timeout):
                conn = await self._exchange(pool, target, context, guarded, data)
        except TargetRefused as exc:
            raise PermanentDeliveryError(str(exc)) from None
        except (OSError, TimeoutError, ProtocolError, ssl.SSLError) as exc:
            raise classify_transport_error(exc) from None
        return Response(conn.status, conn.retry_after, bytes(conn.body))

    async def _exchange(
        self,
        pool: _Pool,
        target: _Target,
        context: ssl.SSLContext | None,
        guarded: bool,
        data: bytes,
    ) -> _Connection:
        conn = pool.take()
        if conn is not None:
            try:
                return await self._use(pool, conn, data)
            except ConnectionError:
                if conn.answered:
                    raise
                # the server closed an idle connection as we reused it: once more, fresh
        conn = await self._connect(target, context, guarded)
        return await self._use(pool, conn, data)

    @staticmethod
    async def _use(pool: _Pool, conn: _Connection, data: bytes) -> _Connection:
        try:
            await conn.exchange(data)
        except BaseException:
            conn.close()  # failed, cancelled or timed out mid-answer: the connection is spent
            raise
        pool.give_back(conn)
        return conn

    async def _connect(
        self, target: _Target, context: ssl.SSLContext | None, guarded: bool
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for family, address in await self._addresses(target, guarded):
            info = (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, target.port))
            if self._socket_factory is not None:
                sock = self._socket_factory(info)
            else:
                sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, (address, target.port))
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            _, conn = await loop.create_connection(
                _Connection, sock=sock, ssl=context,
                server_hostname=target.host if context is not None else None,
            )
            return conn
        raise last or OSError(f"no address for {target.host}")

    async def _addresses(self, target: _Target, guarded: bool) -> list[tuple[int, str]]:
        literal = _literal(target.host)
        if literal is not None:
            return [literal]  # checked by check_url
        key = (target.host, target.port, guarded)
        cached = self._dns.get(key)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            results = await self._resolver_for(guarded).resolve(
                target.host, target.port, socket.AF_UNSPEC
            )
            cached = self._dns[key] = (now + DNS_TTL, results)
        return [(r["family"], r["host"]) for r in cached[1]]

    def _resolver_for(self, guarded: bool) -> AbstractResolver:
        if not self._resolvers:
            inner = self._resolver or ThreadedResolver()
            self._resolvers = {True: GuardedResolver(inner), False: inner}
        return self._resolvers[guarded]

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        await asyncio.sleep(0)  # let the transports finish closing


def _literal(host: str) -> tuple[int, str] | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), str(ip)

