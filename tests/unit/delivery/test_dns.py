"""Name lookups (issue 11, section 6): a dedicated executor of 16 threads, answers cached
30 s and failures 5 s, one call per name however many ask at once.

``socket.getaddrinfo`` and the resolvers are stubs: nothing here asks a real DNS server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from kafkahooks.delivery.dns import CachingResolver, SystemResolver
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from tests.support.resolver import LoopbackOnly


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Gated:
    """A resolver whose answers wait for ``gate``; counts its calls."""

    def __init__(self, answer: list[tuple[int, str]] | None = None) -> None:
        self.answer = answer if answer is not None else [(socket.AF_INET, "127.0.0.1")]
        self.calls: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.error: OSError | None = None

    async def resolve(self, host: str) -> list[tuple[int, str]]:
        self.calls.append(host)
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.answer


def test_an_answer_is_reused_for_30_seconds() -> None:
    inner, clock = Gated(), Clock()
    resolver = CachingResolver(inner, clock=clock)

    async def go() -> None:
        for advance in (0, 10, 19.9):
            clock.now += advance
            assert await resolver.resolve("hooks.test") == [(socket.AF_INET, "127.0.0.1")]
        assert inner.calls == ["hooks.test"]
        clock.now += 0.2  # 30.1 s after the lookup
        await resolver.resolve("hooks.test")
        assert inner.calls == ["hooks.test"] * 2

    asyncio.run(go())


def test_a_failure_is_remembered_for_5_seconds() -> None:
    inner, clock = Gated(), Clock()
    inner.error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    resolver = CachingResolver(inner, clock=clock)

    async def go() -> None:
        for advance in (0, 2, 2.9):
            clock.now += advance
            with pytest.raises(socket.gaierror, match="not known"):
                await resolver.resolve("gone.test")
        assert inner.calls == ["gone.test"]
        clock.now += 0.2
        inner.error = None
        assert await resolver.resolve("gone.test") == inner.answer
        assert inner.calls == ["gone.test"] * 2

    asyncio.run(go())


def test_concurrent_lookups_of_one_name_share_one_call_and_one_deadline_cancels_only_itself() -> (
    None
):
    inner = Gated()
    resolver = CachingResolver(inner)

    async def go() -> None:
        inner.gate.clear()
        waiting = [asyncio.create_task(resolver.resolve("hooks.test")) for _ in range(10)]
        impatient = asyncio.create_task(asyncio.wait_for(resolver.resolve("hooks.test"), 0.05))
        with pytest.raises(TimeoutError):
            await impatient
        inner.gate.set()
        answers = await asyncio.gather(*waiting)
        assert answers == [inner.answer] * 10
        assert inner.calls == ["hooks.test"]

    asyncio.run(go())


def test_lookups_run_on_a_dedicated_executor_at_most_16_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = peak = 0
    threads: set[str] = set()

    def getaddrinfo(host: Any, *_: Any) -> list[Any]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.current_thread().name)
        if host != b"fast.test":
            release.wait(10)
        with lock:
            running -= 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    resolver = SystemResolver()

    async def go() -> None:
        slow = [asyncio.create_task(resolver.resolve(f"slow{i}.test")) for i in range(40)]
        loop = asyncio.get_running_loop()
        for _ in range(200):
            if running == 16:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert running == 16  # the 24 others queue on the dedicated pool...
        # ...and the loop's own executor is free for everything else
        assert await loop.run_in_executor(None, lambda: "free") == "free"
        release.set()
        assert all(r == [(socket.AF_INET, "127.0.0.1")] for r in await asyncio.gather(*slow))

    try:
        asyncio.run(go())
    finally:
        release.set()
        resolver.close()
    assert peak == 16
    assert all(name.startswith("kafkahooks-dns") for name in threads)


def test_the_sender_looks_a_name_up_once_for_a_burst_of_deliveries() -> None:
    """Twenty deliveries to one name at once: one lookup, shared (the connect is refused by
    the guard, so nothing is connected)."""
    inner = Gated([(socket.AF_INET, "10.0.0.9")])
    sockets = LoopbackOnly()
    sender = Http1Sender(resolver=inner, socket_factory=sockets)

    async def go() -> None:
        inner.gate.clear()
        request = OutboundRequest(
            "POST", "https://hooks.test/x", {}, b"{}", 2.0, policy=TargetPolicy()
        )
        sends = [asyncio.create_task(sender.send(request)) for _ in range(20)]
        await asyncio.sleep(0.05)
        inner.gate.set()
        results = await asyncio.gather(*sends, return_exceptions=True)
        assert all("private address" in str(r) for r in results)
        await sender.aclose()

    asyncio.run(go())
    assert inner.calls == ["hooks.test"] and sockets.opened == []
