"""Name lookups for the HTTP client: a resolver protocol, the system resolver, a cache.

Invariant: one slow or failing name never holds up the others, and a burst of
deliveries to one name costs one lookup.  Lookups run on a dedicated pool of at
most 16 threads (never the loop's shared default executor, which a slow name
would fill); a successful answer is reused for up to 30 s and a failure for
5 s; concurrent lookups of one name share one call.  A lookup outlives the
request that started it (its deadline cancels the wait, not the lookup), so
the answer still serves the next request.

Resolvers return addresses only.  Whether an address may be connected to is
decided where the socket connects (``guard.refuse`` in ``http1``), never here.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

__all__ = ["Address", "CachingResolver", "Resolver", "SystemResolver"]

Address = tuple[int, str]  # (address family, IP literal)

MAX_LOOKUPS = 16
TTL = 30.0
FAILURE_TTL = 5.0
MAX_NAMES = 4096  # cached names; beyond it the oldest entry goes


class Resolver(Protocol):
    async def resolve(self, host: str) -> Sequence[Address]:
        """The addresses of ``host``; raise ``OSError`` (e.g. ``socket.gaierror``) if none."""
        ...


def _lookup(host: str) -> list[Address]:
    # bytes: a str would go through Python's IDNA 2003 codec, which refuses names the
    # normalised host may be (a label over 63 characters, an empty label)
    infos = socket.getaddrinfo(
        host.encode("ascii"),
        None,
        socket.AF_UNSPEC,
        socket.SOCK_STREAM,
        socket.IPPROTO_TCP,
        socket.AI_ADDRCONFIG,
    )
    seen: dict[Address, None] = {}  # getaddrinfo's order (RFC 6724), without repeats
    for family, _, _, _, sockaddr in infos:
        seen.setdefault((int(family), str(sockaddr[0])), None)
    return list(seen)


class SystemResolver:
    """``getaddrinfo`` on a dedicated executor: at most ``workers`` lookups at once."""

    def __init__(self, workers: int = MAX_LOOKUPS) -> None:
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None

    async def resolve(self, host: str) -> list[Address]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="kafkahooks-dns")
        return await asyncio.get_running_loop().run_in_executor(self._executor, _lookup, host)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class _Failure:
    """A failed lookup, kept as its class and arguments: each caller gets a fresh error
    (re-raising one instance would pile up tracebacks)."""

    __slots__ = ("args", "kind")

    def __init__(self, exc: OSError) -> None:
        self.kind, self.args = type(exc), exc.args

    def error(self) -> OSError:
        return self.kind(*self.args)


class CachingResolver:
    """Wraps a resolver: answers cached (``ttl``; failures ``failure_ttl``), one call per name."""

    def __init__(
        self,
        inner: Resolver,
        ttl: float = TTL,
        failure_ttl: float = FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._ttl, self._failure_ttl, self._clock = ttl, failure_ttl, clock
        self._cache: dict[str, tuple[float, list[Address] | _Failure]] = {}
        self._flights: dict[str, asyncio.Future[list[Address]]] = {}

    async def resolve(self, host: str) -> list[Address]:
        cached = self._cache.get(host)
        if cached is not None and cached[0] > self._clock():
            answer = cached[1]
            if isinstance(answer, _Failure):
                raise answer.error()
            return answer
        flight = self._flights.get(host)
        if flight is None:
            flight = self._flights[host] = asyncio.ensure_future(self._lookup(host))
            flight.add_done_callback(_retrieve)
        # shielded: one caller's deadline must not cancel the lookup the others share
        return await asyncio.shield(flight)

    async def _lookup(self, host: str) -> list[Address]:
        try:
            addresses = list(await self.inner.resolve(host))
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "no address")
        except OSError as exc:
            self._store(host, self._failure_ttl, _Failure(exc))
            raise
        finally:
            self._flights.pop(host, None)
        self._store(host, self._ttl, addresses)
        return addresses

    def _store(self, host: str, ttl: float, answer: list[Address] | _Failure) -> None:
        self._cache.pop(host, None)  # re-inserted last: the dict's order is the age order
        if len(self._cache) >= MAX_NAMES:
            del self._cache[next(iter(self._cache))]
        self._cache[host] = (self._clock() + ttl, answer)


def _retrieve(flight: asyncio.Future[list[Address]]) -> None:
    # every waiter may have given up (deadline): the failure is cached, not lost
    if not flight.cancelled():
        flight.exception()
