"""/healthz sees stalls, not outages: a receiver down for three times the stall bound
leaves it at 200 (the bridge keeps trying, which is progress), and the events arrive
once the receiver is back."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kafkahooks.demo.broker import free_port
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.metrics import sample
from tests.support.receiver import Receiver, Reply, Request

Start = Callable[..., BridgeProcess]
STALL_AFTER = 2.0


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_receiver_down_for_three_times_the_bound_is_not_a_stall(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    up = False

    def behaviour(_: Request) -> Reply:
        return Reply(200 if up else 503)

    receiver.behaviour = behaviour
    retry = {"max_attempts": 100, "initial_backoff": 0.5, "max_backoff": 1.0, "jitter": 0}
    config = routes_file(
        tmp_path / "r.yaml",
        bootstrap,
        group,
        [simple_route("calls", topic, receiver.url, retry=retry)],
    )
    produce(
        bootstrap, topic, [(f"k{i}", {"event": "e", "id": i, "status": "s"}) for i in range(10)]
    )
    port = free_port()
    env = {
        "KAFKAHOOKS_HTTP_PORT": str(port),
        "KAFKAHOOKS_HTTP_HOST": "127.0.0.1",
        "KAFKAHOOKS_STALL_AFTER": str(STALL_AFTER),
    }
    bridge = start_bridge(config, env)
    wait_until(lambda: len(receiver.requests) >= 10, timeout=30)  # everything is waiting
    seen: list[int] = []
    end = time.monotonic() + 3 * STALL_AFTER + 1
    while time.monotonic() < end:
        seen.append(_health(port))
        time.sleep(0.25)
    age = sample(
        port, "kafkahooks_oldest_unfinished_seconds", group=group, topic=topic, partition="0"
    )
    up = True
    wait_until(lambda: committed(bootstrap, group, topic) == [10], timeout=30)
    assert bridge.terminate() == 0
    assert set(seen) == {200}, seen
    assert age is not None and age >= 2 * STALL_AFTER  # the alert signal grew meanwhile
