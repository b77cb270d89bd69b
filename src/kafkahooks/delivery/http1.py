"""The one delivery client: a small HTTP/1.1 client on asyncio transports.

Why not aiohttp's ``ClientSession``: on these machines it costs ~150 µs of CPU
per request (request/response objects, multidicts, tracing, timers), which is
most of a delivery's budget; this client costs ~50 µs (``bench/http_clients.py``).
It does only what a webhook delivery needs, and leaves the hard parts to
libraries: response parsing to httptools (llhttp, the parser of Node.js and
uvicorn), sockets and TLS to asyncio, address racing to aiohappyeyeballs.

Contract (``tests/unit/test_http1.py``, the contract section):

- The transport guard runs inside the connect path: every address a socket is
  about to connect to, literal or resolved, is checked there (``guard.refuse``)
  unless the route allows private targets.  The host is the guard's normalised
  host, the same value for the check, the pool key, SNI and ``Host``.
- One deadline, ``request.timeout``, covers the whole attempt: lookup, connect,
  TLS, sending and the whole response.  A trickling receiver cannot extend it.
- The answer is capped: status line and headers ≤ 64 KiB, ≤ 100 fields, ≤ 8 KiB
  per field (else a retryable protocol error and the connection closed); at most
  ``request.response_limit`` body bytes are kept, the rest read and discarded
  (within the deadline).
- The status is the final response's, taken when it completes; interim 100/103
  answers are skipped; 101 is a permanent failure (unexpected upgrade).  A
  connection that sends bytes out of turn (after the answer, or while idle in
  the pool) is closed, never reused; a body cut short by the peer's close is a
  failure, not an answer.
- Redirects are never followed; environment proxies are never used; TLS
  verifies the normalised host against the route's context or the system trust.
- Keep-alive pools keyed by origin, TLS settings (their content, so a reload
  finds its pool) and guard; idle connections close after ``idle_timeout``,
  every connection after ``max_lifetime``; at most ``max_connections`` are open
  over all pools (an idle one is closed to make room, else the request waits).
- At most ``max_per_origin`` requests to one origin at once, first come first
  served (so at most that many connections to it): many customers' endpoints share
  origins such as a chat or automation provider, and one origin cannot take every
  connection.  Each customer endpoint's own concurrency cap (``gates.py``) keeps one
  tenant from taking all of an origin's share.
- Lookups: dedicated executor, cached, shared (``delivery/dns.py``); the
  checked addresses are raced with Happy Eyeballs (RFC 8305, 250 ms stagger).

One request per connection at a time (no pipelining), no decompression (no
``accept-encoding`` is sent).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httptools
from aiohappyeyeballs import AddrInfoType, start_connection

from kafkahooks.config import (
    URL_SAFE,
    is_plain_target,
    plain_target,
    splits_as_written,
    through_authority,
)
from kafkahooks.delivery.dns import Address, CachingResolver, Resolver, SystemResolver
from kafkahooks.delivery.errors import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    TargetRefusedError,
    classify_transport_error,
)
from kafkahooks.delivery.guard import (
    InvalidTarget,
    TargetRefused,
    check_authority,
    destination,
    refuse,
)
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import USER_AGENT, Response
from kafkahooks.delivery.tls import context_key

__all__ = [
    "Http1Sender",
    "ProtocolError",
    "ResponseHeadTooLarge",
    "SocketFactory",
    "UnexpectedUpgrade",
]

SocketFactory = Callable[[AddrInfoType], socket.socket]

HEAD_LIMIT = 64 * 1024  # status line and headers, interim answers included
MAX_FIELDS = 100
FIELD_LIMIT = 8 * 1024  # one header line (name and value), or the status line
IDLE_TIMEOUT = 15.0
MAX_LIFETIME = 300.0
HAPPY_EYEBALLS_DELAY = 0.25  # RFC 8305's recommended stagger
# set by the client itself: a route's headers never override message framing
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_SYSTEM = "system"  # the pool key part of the system trust store


class ProtocolError(Exception):
    """The peer's answer is not HTTP/1.x we can read (retryable)."""


class ResponseHeadTooLarge(ProtocolError):
    """The status line and headers are over a cap (64 KiB, 100 fields, 8 KiB a field)."""


class UnexpectedUpgrade(ProtocolError):
    """A 101 answer: the receiver wants another protocol (permanent)."""


class _OutOfTurn(ProtocolError):
    """Bytes no request asked for."""


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a request goes, up to its authority: one per origin (endpoints differ by
    path, and the path travels beside it: ``_target``)."""

    tls: bool
    host: str  # normalised (guard.normalize_host): resolved, checked, verified (no brackets)
    port: int
    host_header: str
    literal: Address | None  # the host is an IP address: connect to it, never resolve
    origin: tuple[bool, str, int]
    authority: str  # the URL cut after its authority: the guard's early check is keyed by it


@functools.lru_cache(maxsize=1024)  # per delivery: a route's URL is parsed once
def _target(url: str) -> tuple[_Target, str]:
    """The origin's target (parsed once per origin) and the request target (path and
    query), of a route's URL.  A customer endpoint's request brings its URL cut after the
    authority already, and goes to :func:`_cut_target` without this cache: its 100,000
    URLs differ by path, and a cache of them missed on every attempt."""
    return _cut_target(url, through_authority(url))


def _request_target(request: OutboundRequest) -> tuple[_Target, str]:
    """Where ``request`` goes: from its URL cut after the authority when it brings one
    (a customer endpoint's, with its request target when that is sent as written), else
    from the route URL's cached parse."""
    cut = request.authority
    if cut is None:
        return _target(request.url)
    if request.target is not None:
        return _authority_target(cut), request.target
    return _cut_target(request.url, cut)


def _cut_target(url: str, authority: str) -> tuple[_Target, str]:
    """:func:`_target` of ``url``, given ``through_authority(url)``."""
    base = _authority_target(authority)
    plain = plain_target(url, authority)
    if plain is not None:
        # the usual path-and-query: nothing below would change it (1,400 of 10,800
        # instructions per URL saved)
        return base, plain
    if splits_as_written(url):
        # what urlsplit would do: the path starts where the cut ends
        path, _, query = url[len(authority) :].partition("#")[0].partition("?")
    else:
        parts = urlsplit(url)
        path, query = parts.path, parts.query
    target = (path or "/") + (f"?{query}" if query else "")
    if not is_plain_target(target):  # quote() costs ~1.5 µs; most targets need nothing
        target = quote(target, safe=URL_SAFE)  # a space or non-ASCII would break the line
    return base, target


@functools.lru_cache(maxsize=1024)
def _authority_target(url: str) -> _Target:
    """The :class:`_Target` of a URL cut after its authority."""
    try:
        where = destination(url)
    except InvalidTarget as exc:
        raise PermanentDeliveryError(str(exc)) from None
    tls = where.scheme == "https"
    host = where.host
    shown = f"[{host}]" if ":" in host else host  # userinfo is never sent
    explicit = where.explicit_port
    default_port = explicit is None or explicit == (443 if tls else 80)
    host_header = shown if default_port else f"{shown}:{explicit}"
    literal = None
    if where.ip is not None:
        literal = (socket.AF_INET6 if where.ip.version == 6 else socket.AF_INET), host
    origin = (tls, host, where.port)
    return _Target(tls, host, where.port, host_header, literal, origin, authority=url)


def _encode(
    method: str, target: _Target, path: str, headers: dict[str, str], body: bytes
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1\r\nhost: {target.host_header}\r\n"]
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


class _Slot:
    """One of the sender's ``max_connections``: held from connect to close, freed once."""

    __slots__ = ("_free",)

    def __init__(self, free: Callable[[], None]) -> None:
        self._free: Callable[[], None] | None = free

    def release(self) -> None:
        if self._free is not None:
            free, self._free = self._free, None
            free()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and awaits its answer.

    ``_waiter`` is set exactly while a request is outstanding: a byte that
    arrives without one, or a response that begins after the answer completed,
    is out of turn and closes the connection.
    """

    def __init__(self, slot: _Slot) -> None:
        self.transport: asyncio.Transport | None = None
        self._slot = slot
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self.born = self.idle_since = time.monotonic()
        self.keep_alive = False
        self.answered = False  # any byte of the answer arrived
        self._limit = 0
        self._status = 0
        self._retry_after: str | None = None
        self._body = bytearray()
        self._headers_done = False  # of the response being read (interim ones reset it)
        self._framed = False  # content-length or chunked: the close of the connection is no end
        self._head_left = HEAD_LIMIT
        self._line = 0  # length of the head's unfinished last line
        self._fields = 0

    # -- asyncio.Protocol --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes out of turn: nothing more from it can be trusted
            self.close()
            return
        self.answered = True
        try:
            if self._headers_done:
                self._parser.feed_data(data)
            else:
                self._feed_head(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            cause = exc.__context__  # what a callback raised
            self._fail(
                cause
                if isinstance(cause, ProtocolError)
                else ProtocolError(f"unreadable HTTP response: {exc}")
            )
            self.close()
        except ProtocolError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._slot.release()
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed:
            self._complete()  # a body delimited by the end of the connection: this is its end
        else:
            self._fail(ConnectionResetError("connection closed before the response ended"))

    def _feed_head(self, data: bytes) -> None:
        """Feed bytes while a head is being read, within the head's caps.

        The caps are enforced before httptools sees the bytes: it joins a header
        that arrives in pieces by concatenation, which grows quadratically.
        """
        left = self._head_left
        if len(data) <= left:
            self._head_left = left - len(data)
            self._parser.feed_data(data)
            if not self._headers_done:  # all of it was head: is its last line too long?
                newline = data.rfind(b"\n")
                line = self._line + len(data) if newline < 0 else len(data) - newline - 1
                if line > FIELD_LIMIT:
                    raise ResponseHeadTooLarge("a response head line is over 8 KiB")
                self._line = line
            return
        self._head_left = 0
        self._parser.feed_data(data[:left])
        if not self._headers_done:
            raise ResponseHeadTooLarge("the response head is over 64 KiB")
        self._parser.feed_data(data[left:])

    # -- httptools callbacks -------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._waiter is None:  # a second response after the answer, in the same read
            raise _OutOfTurn("a response nobody asked for")
        self._retry_after = None
        self._framed = False
        self._body.clear()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_FIELDS:
            raise ResponseHeadTooLarge("the response has over 100 header fields")
        if len(name) + len(value) > FIELD_LIMIT:
            raise ResponseHeadTooLarge("a response header field is over 8 KiB")
        lowered = name.lower()
        if lowered == b"retry-after":
            self._retry_after = value.decode("latin-1")
        elif lowered == b"content-length":
            self._framed = True
        elif lowered == b"transfer-encoding":
            self._framed = b"chunked" in value.lower()

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status == 101:
            raise UnexpectedUpgrade("HTTP 101: unexpected upgrade")
        self._status = status
        self._headers_done = True
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        kept = len(self._body)
        if kept < self._limit:
            self._body += body[: self._limit - kept]

    def on_message_complete(self) -> None:
        if self._status < 200:  # an interim answer (100, 103): the final one follows
            self._headers_done = False
            return
        self._complete()

    # -- use -----------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def exchange(self, data: bytes, limit: int) -> Response:
        if self.transport is None or self.transport.is_closing():  # e.g. it spoke out of turn
            raise ConnectionResetError("connection closed before the request was sent")
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._limit = limit
        self._head_left, self._line, self._fields = HEAD_LIMIT, 0, 0
        self.answered = self._headers_done = False
        self.transport.write(data)
        try:
            return await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._slot.release()

    def _complete(self) -> None:
        """The final response is whole: its status, ``Retry-After`` and kept body are the
        answer, whatever arrives after."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, self._retry_after, bytes(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class _Pool:
    """Idle keep-alive connections to one origin, most recently used last."""

    __slots__ = ("dropped", "idle", "key")

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.idle: deque[_Connection] = deque()
        self.dropped = False  # removed by a sweep: connections go back to its successor


class _CheckedSockets:
    """The connect path's socket factory: the last check before a socket exists.

    Happy Eyeballs calls it for each address it tries, right before connecting;
    a refused address gets no socket (the refusal is kept: the racer only
    reports that the attempts failed).
    """

    def __init__(self, host: str | None, inner: SocketFactory | None) -> None:
        self.host = host  # None: the route may reach any address
        self.inner = inner
        self.refused: TargetRefused | None = None

    def __call__(self, info: AddrInfoType) -> socket.socket:
        if self.host is not None:
            try:
                refuse(self.host, [info[4][0]])
            except TargetRefused as exc:
                self.refused = exc
                raise
        if self.inner is not None:
            return self.inner(info)
        return socket.socket(info[0], info[1], info[2])


@functools.cache  # made once: loading the trust store takes milliseconds
def _system_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


PoolKey = tuple[tuple[bool, str, int], Hashable, bool]


_Origin = tuple[bool, str, int]  # TLS, host, port


class _OriginShare:
    """Requests to one origin in progress, and those waiting their turn (in order)."""

    __slots__ = ("busy", "waiters")

    def __init__(self) -> None:
        self.busy = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class _OriginTurn:
    """``async with`` one of an origin's ``max_per_origin`` places; a plain class (entered
    for every request).  The share is dropped when nothing uses or waits for it."""

    __slots__ = ("_cap", "_origin", "_share", "_shares")

    def __init__(self, shares: dict[_Origin, _OriginShare], origin: _Origin, cap: int) -> None:
        self._shares, self._origin, self._cap = shares, origin, cap
        share = shares.get(origin)
        if share is None:
            share = shares[origin] = _OriginShare()
        self._share = share

    async def __aenter__(self) -> None:
        share = self._share
        if share.busy < self._cap and not share.waiters:
            share.busy += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        share.waiters.append(waiter)
        try:
            await waiter  # the place is handed over with the result: busy already counts it
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._leave()  # handed a place, then cancelled (deadline): pass it on
            else:
                share.waiters.remove(waiter)
                self._forget()
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._leave()

    def _leave(self) -> None:
        share = self._share
        while share.waiters:
            waiter = share.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place goes to the next in line
                return
        share.busy -= 1
        self._forget()

    def _forget(self) -> None:
        share = self._share
        if not share.busy and not share.waiters and self._shares.get(self._origin) is share:
            del self._shares[self._origin]


class Http1Sender:
    """The sender.  ``resolver`` and ``socket_factory`` are for tests (no packet leaves
    loopback): the factory is called for each address about to be connected to."""

    def __init__(
        self,
        max_connections: int = 200,
        resolver: Resolver | None = None,
        socket_factory: SocketFactory | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        max_lifetime: float = MAX_LIFETIME,
        happy_eyeballs_delay: float = HAPPY_EYEBALLS_DELAY,
        max_per_origin: int = 200,
    ) -> None:
        self._max_connections = max_connections
        self._max_per_origin = max_per_origin
        self._origins: dict[_Origin, _OriginShare] = {}
        self._open = 0  # connections open or opening, over all pools
        self._waiters: deque[asyncio.Future[None]] = deque()  # for a connection or a slot
        self._system_resolver: SystemResolver | None = None
        if resolver is None:
            resolver = self._system_resolver = SystemResolver()
        self._resolver = CachingResolver(resolver)
        self._socket_factory = socket_factory
        self._idle_timeout = idle_timeout
        self._max_lifetime = max_lifetime
        self._he_delay = happy_eyeballs_delay
        self._pools: dict[PoolKey, _Pool] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    async def send(self, request: OutboundRequest) -> Response:
        policy = request.policy
        try:
            target, path = _request_target(request)
            check_authority(target.authority, policy)  # scheme, host spelling, IP literals
            body = request.body if request.method != "GET" else b""
            data = _encode(request.method, target, path, request.headers, body)
            guarded = not policy.allow_private
            context: ssl.SSLContext | None = None
            tls: Hashable = None
            if target.tls:
                if request.ssl is None:
                    context, tls = _system_tls(), _SYSTEM
                else:
                    context, tls = request.ssl, context_key(request.ssl)
            key = (target.origin, tls, guarded)
            async with (
                asyncio.timeout(request.timeout),
                _OriginTurn(self._origins, target.origin, self._max_per_origin),
            ):
                return await self._exchange(key, target, context, data, request.response_limit)
        except TargetRefused as exc:
            raise TargetRefusedError(str(exc)) from None
        except UnexpectedUpgrade as exc:
            raise PermanentDeliveryError(str(exc), 101) from None
        except ProtocolError as exc:  # our own words (which cap, what was unreadable): say them
            raise RetryableDeliveryError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        except (OSError, UnicodeError) as exc:  # timeouts, TLS errors: OSErrors
            # UnicodeError: ssl's IDNA 2003 encoding of SNI refuses some names the lookup took
            raise classify_transport_error(exc) from None

    async def _exchange(
        self,
        key: PoolKey,
        target: _Target,
        context: ssl.SSLContext | None,
        data: bytes,
        limit: int,
    ) -> Response:
        pool = self._pools.get(key) or self._new_pool(key)
        conn = self._take(pool)
        if conn is not None:
            try:
                return await self._use(pool, conn, data, limit)
            except ConnectionError:
                if conn.answered:
                    raise
                # the server closed an idle connection as we reused it: once more, fresh
        conn = await self._connect(pool, target, context)
        return await self._use(pool, conn, data, limit)

    async def _use(self, pool: _Pool, conn: _Connection, data: bytes, limit: int) -> Response:
        try:
            response = await conn.exchange(data, limit)
        except BaseException:
            conn.close()  # failed, cancelled or timed out mid-answer: the connection is spent
            raise
        self._give_back(pool, conn)
        return response

    # -- pools -----------------------------------------------------------------------
    def _new_pool(self, key: PoolKey) -> _Pool:
        pool = self._pools[key] = _Pool(key)
        self._arm_sweeper()  # the sweep also forgets pools left empty
        return pool

    def _fresh(self, conn: _Connection, now: float) -> bool:
        return (
            conn.usable
            and now - conn.idle_since < self._idle_timeout
            and now - conn.born < self._max_lifetime
        )

    def _take(self, pool: _Pool) -> _Connection | None:
        idle = pool.idle
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if self._fresh(conn, now):
                return conn
            conn.close()
        return None

    def _give_back(self, pool: _Pool, conn: _Connection) -> None:
        now = time.monotonic()
        if not (conn.keep_alive and conn.usable and now - conn.born < self._max_lifetime):
            conn.close()
            return
        if pool.dropped:
            pool = self._pools.get(pool.key) or self._new_pool(pool.key)
        conn.idle_since = now
        pool.idle.append(conn)
        self._arm_sweeper()
        if self._waiters:  # at the cap: a request may take it, or close it for its own
            self._wake()

    def _arm_sweeper(self) -> None:
        if self._sweeper is None:
            every = max(0.05, min(self._idle_timeout, self._max_lifetime) / 2)
            self._sweeper = asyncio.get_running_loop().call_later(every, self._sweep)

    def _sweep(self) -> None:
        """Close idle connections past their idle timeout or lifetime; forget empty pools."""
        self._sweeper = None
        now = time.monotonic()
        for key, pool in list(self._pools.items()):
            fresh = [c for c in pool.idle if self._fresh(c, now)]
            for conn in pool.idle:
                if not self._fresh(conn, now):
                    conn.close()
            pool.idle = deque(fresh)
            if not fresh:
                pool.dropped = True
                del self._pools[key]
        if self._pools:
            self._arm_sweeper()

    def _evict_idle(self) -> bool:
        """At the connection cap: close the connection idle the longest, in any pool."""
        pools = [pool for pool in self._pools.values() if pool.idle]
        if not pools:
            return False
        oldest = min(pools, key=lambda pool: pool.idle[0].idle_since)  # each pool's LRU is first
        oldest.idle.popleft().close()
        return True

    # -- the connection cap ----------------------------------------------------------------
    async def _reserve(self, pool: _Pool) -> _Connection | _Slot:
        """A slot for a new connection, or an idle one of ``pool`` that came free meanwhile.

        At the cap an idle connection of another pool is closed to make room;
        with none idle, the request waits (within its deadline).
        """
        while self._open >= self._max_connections:
            conn = self._take(pool)
            if conn is not None:
                return conn
            if not self._evict_idle():
                await self._wait()
        self._open += 1
        return _Slot(self._released)

    def _released(self) -> None:
        self._open -= 1
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken, then cancelled (deadline): pass the turn on
            raise
        finally:
            if not waiter.done():
                waiter.cancel()

    # -- connect -----------------------------------------------------------------------
    async def _connect(
        self, pool: _Pool, target: _Target, context: ssl.SSLContext | None
    ) -> _Connection:
        if target.literal is not None:
            addresses: Sequence[Address] = [target.literal]
        else:
            addresses = await self._resolver.resolve(target.host)
        reserved = await self._reserve(pool)
        if isinstance(reserved, _Connection):
            return reserved
        slot = reserved
        try:
            sock = await self._open_socket(target, addresses, guarded=pool.key[2])
            _, conn = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(slot),
                sock=sock,
                ssl=context,
                server_hostname=target.host if context is not None else None,
            )
        except BaseException:
            slot.release()
            raise
        return conn

    async def _open_socket(
        self, target: _Target, addresses: Sequence[Address], guarded: bool
    ) -> socket.socket:
        """Connect to one of ``addresses``, each checked (when guarded) as it is tried."""
        if guarded:  # the whole answer first: one private address refuses the name
            refuse(target.host, [address for _, address in addresses])
        infos: list[AddrInfoType] = [
            (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, target.port))
            for family, address in addresses
        ]
        sockets = _CheckedSockets(target.host if guarded else None, self._socket_factory)
        try:
            return await start_connection(
                infos, happy_eyeballs_delay=self._he_delay, interleave=1, socket_factory=sockets
            )
        except OSError:
            if sockets.refused is not None:
                raise sockets.refused from None
            raise

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.dropped = True
            while pool.idle:
                pool.idle.pop().close()
        if self._system_resolver is not None:
            self._system_resolver.close()
        await asyncio.sleep(0)  # let the transports finish closing
