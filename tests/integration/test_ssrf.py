"""A target name that resolves to a private address is refused at delivery: no connection is
made and the event is dead-lettered with a clear reason.  Names resolve through a stub; the
socket factory would refuse anything but loopback should the guard ever let one through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkahooks.app.bridge import Bridge
from kafkahooks.app.settings import Settings
from kafkahooks.config import load_config
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.sender import Sender
from tests.support.bridge import routes_file, simple_route
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.resolver import LoopbackOnly, StubResolver


@pytest.mark.parametrize("make_sender", [Http1Sender])
def test_private_address_behind_a_name_is_dead_lettered_without_a_connection(
    bootstrap: str, tmp_path: Path, make_sender: Callable[..., Sender],
) -> None:
    topic, group = create_topic(bootstrap, unique("ssrf")), unique("g")
    produce(bootstrap, topic, [("k", {"event": "status-changed", "id": 1, "status": "x"})])
    url = "https://hooks.customer.test/webhook"
    config = load_config(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                     [simple_route("calls", topic, url)]))
    resolver, sockets = StubResolver("169.254.169.254"), LoopbackOnly()
    sender = make_sender(resolver=resolver, socket_factory=sockets)
    bridge = Bridge(config, Settings(shutdown_timeout=5, commit_interval=0.2, http_port=0),
                    sender=sender)

    async def run_until_dead_lettered() -> None:
        task = asyncio.create_task(bridge.run())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: read_topic(bootstrap, f"{topic}.dlq", 1, 30))
        for _ in range(100):
            if await loop.run_in_executor(None, committed, bootstrap, group, topic) == [1]:
                break
            await asyncio.sleep(0.1)
        bridge.stop()
        await task

    asyncio.run(run_until_dead_lettered())
    assert resolver.lookups == ["hooks.customer.test"]
    assert sockets.opened == []
    record = read_topic(bootstrap, f"{topic}.dlq", 1)[0]
    headers = headers_of(record)
    assert headers["kafkahooks.error.class"] == "TargetRefusedError"  # a permanent error
    assert headers["kafkahooks.error.message"].startswith(
        "target hooks.customer.test (169.254.169.254) is a cloud-metadata address; refused")
    assert headers["kafkahooks.attempts"] == "1"
    assert committed(bootstrap, group, topic) == [1]
