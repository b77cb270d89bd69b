"""The window of routes with ``endpoints:`` bounds unfinished events only, and what finished
behind an unfinished one survives a crash: a real bridge, the real broker, real receivers.

One tenant's endpoint hangs on the first event of the partition; the other tenant's events
flow past it (many windows' worth, no pause), and after a SIGKILL a new bridge of the
group skips those finished events (they are in the progress topic) instead of delivering
them again, and delivers the stuck one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from kafkahooks.demo.broker import free_port
from kafkahooks.kafka import PROGRESS_TOPIC, ProgressLog
from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import GROUP_TIMINGS, committed, create_topic, produce, unique
from tests.support.metrics import sample
from tests.support.receiver import Receiver, Reply, Request
from tests.support.store import StoreWriter

# each test starts bridges or CLI processes for 10-30 s: `make test-slow` runs them
pytestmark = pytest.mark.slow

WINDOW = 20
OTHERS = 300  # fifteen windows' worth of the other tenant's events behind the stuck one


class Hanging:
    """A tenant endpoint that does not answer until released (then answers 200)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.arrived: list[int] = []  # event ids as requests arrive (before the answer)
        self.receiver = Receiver(self._answer)

    def _answer(self, request: Request) -> Reply:
        self.arrived.append(int(request.json()["id"]))
        self.released.wait(60)  # bounded: a test that fails does not leave it hanging
        return Reply()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    endpoint = Hanging()
    yield endpoint
    endpoint.released.set()
    endpoint.receiver.close()


def _config(path: Path, bootstrap: str, group: str, topic: str, store: StoreWriter) -> Path:
    doc = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "properties": dict(GROUP_TIMINGS),
        },
        "endpoint_store": {"topic": store.topic, "encryption_keys": store.keys},
        "dead_letter_limit": {"enabled": False},
        "routes": [
            {
                "name": "calls",
                "topics": [topic],
                "template": {"id": "{{ value.id }}", "account": "{{ value.account }}"},
                "endpoints": {"tenant": "value.account", "timeout": 120},
                "retry": {"max_attempts": 1},
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _feed(bootstrap: str, topic: str, stuck: str, other: str) -> None:
    """Offset 0 for the stuck tenant, then ``OTHERS`` events of the other one."""
    events: list[tuple[str | None, object]] = [(stuck, {"id": 0, "account": stuck})]
    events += [(other, {"id": i, "account": other}) for i in range(1, OTHERS + 1)]
    produce(bootstrap, topic, events)


def _ids(receiver: Receiver) -> Counter[int]:
    with receiver.lock:
        return Counter(int(r.json()["id"]) for r in receiver.requests)


def _env(**extra: str) -> dict[str, str]:
    return {"KAFKAHOOKS_WINDOW": str(WINDOW), "KAFKAHOOKS_HELD_MAX": "5000", **extra}


def test_a_hanging_tenant_does_not_pause_the_others(
    bootstrap: str,
    store: StoreWriter,
    receiver: Receiver,
    hanging: Hanging,
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    stuck, other = unique("stuck"), unique("other")
    store.create(stuck, hanging.receiver.url)
    store.create(other, receiver.url)
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    _feed(bootstrap, topic, stuck, other)
    port = free_port()
    env = _env(KAFKAHOOKS_HTTP_PORT=str(port), KAFKAHOOKS_HTTP_HOST="127.0.0.1")
    bridge = start_bridge(_config(tmp_path / "r.yaml", bootstrap, group, topic, store), env)

    receiver.wait_count(OTHERS, timeout=60)  # fifteen windows past the stuck event
    assert hanging.arrived == [0] and not hanging.receiver.requests  # still hanging
    # the window holds the stuck event only; the others are offsets held behind it
    wait_until(
        lambda: (
            sample(port, "kafkahooks_window_events", group=group) == 1
            and sample(port, "kafkahooks_offsets_held", group=group) == OTHERS + 1
        )
    )
    assert not sample(port, "kafkahooks_paused_partitions", group=group)
    assert committed(bootstrap, group, topic) != [OTHERS + 1]  # nothing passes it

    hanging.released.set()
    wait_until(lambda: committed(bootstrap, group, topic) == [OTHERS + 1], timeout=30)
    assert bridge.terminate() == 0, bridge.output()[-3000:]
    assert _ids(receiver) == Counter(range(1, OTHERS + 1))


def _persisted(bootstrap: str, group: str, topic: str, count: int) -> bool:
    """Whether the progress topic names ``count`` finished offsets above the position."""
    progress = ProgressLog({"bootstrap.servers": bootstrap}, PROGRESS_TOPIC)
    try:
        progress.open(timeout=15)
        entry = progress.load(group, [(topic, 0)]).get((topic, 0))
        return entry is not None and entry.count == count
    finally:
        progress.close()


def test_after_a_sigkill_events_finished_behind_a_stuck_one_are_not_delivered_again(
    bootstrap: str,
    store: StoreWriter,
    receiver: Receiver,
    hanging: Hanging,
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    stuck, other = unique("stuck"), unique("other")
    store.create(stuck, hanging.receiver.url)
    store.create(other, receiver.url)
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    _feed(bootstrap, topic, stuck, other)
    config = _config(tmp_path / "r.yaml", bootstrap, group, topic, store)
    first = start_bridge(config, _env())

    receiver.wait_count(OTHERS, timeout=60)
    wait_until(lambda: _persisted(bootstrap, group, topic, OTHERS), timeout=30)
    first.kill()  # SIGKILL: no drain, no final commit
    assert committed(bootstrap, group, topic) != [OTHERS + 1]

    hanging.released.set()  # the stuck tenant's endpoint is back
    second = start_bridge(config, _env(KAFKAHOOKS_LOG_LEVEL="DEBUG"))
    wait_until(lambda: committed(bootstrap, group, topic) == [OTHERS + 1], timeout=60)
    assert second.terminate() == 0, second.output()[-3000:]

    assert _ids(receiver) == Counter(range(1, OTHERS + 1))  # each once: none again
    assert hanging.arrived == [0, 0]  # the stuck one: hung, then delivered by the second
    assert "record finished by a previous owner" in second.output()
    assert not _persisted(bootstrap, group, topic, OTHERS)  # cleared once passed
