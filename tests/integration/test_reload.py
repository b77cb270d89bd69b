"""Hot reload: a valid routes file applies to events not yet sent; an invalid one is refused."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.receiver import Receiver, Reply

Start = Callable[..., BridgeProcess]


def _logged(bridge: BridgeProcess, message: str) -> bool:
    for line in bridge.output().splitlines():
        try:
            if json.loads(line).get("msg") == message:
                return True
        except ValueError:
            continue
    return False


def test_reload_applies_a_valid_file_and_keeps_the_old_one_when_invalid(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    path = tmp_path / "routes.yaml"
    route = simple_route("calls", topic, receiver.url)
    routes_file(path, bootstrap, group, [route])
    bridge = start_bridge(path)
    produce(bootstrap, topic, [("k", {"event": "e", "id": 1, "status": "a"})])
    receiver.wait_count(1)
    assert "version" not in receiver.requests[0].json()

    # 1. a valid edit (by SIGHUP): the next event gets the new template
    route["template"] = {**route["template"], "version": 2}
    routes_file(path, bootstrap, group, [route])
    bridge.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: _logged(bridge, "config reloaded"), timeout=15)
    produce(bootstrap, topic, [("k", {"event": "e", "id": 2, "status": "b"})])
    receiver.wait_count(2)
    assert receiver.requests[1].json()["version"] == 2

    # 2. an invalid edit (noticed by the file watcher): refused, the running config stays
    path.write_text(path.read_text().replace("timeout: 5", "timeout: -5"))
    wait_until(lambda: _logged(bridge, "reload rejected; the running config stays"), timeout=15)
    produce(bootstrap, topic, [("k", {"event": "e", "id": 3, "status": "c"})])
    receiver.wait_count(3)
    assert receiver.requests[2].json()["version"] == 2
    assert "endpoint.timeout" in bridge.output()
    assert bridge.terminate() == 0


class Traffic:
    """Produces ``batch`` events to ``topic`` every ``every`` seconds until stopped; ids count
    up from 0 and keys cycle through ``keys``."""

    def __init__(
        self, bootstrap: str, topic: str, batch: int = 20, every: float = 0.05, keys: int = 10
    ) -> None:
        self.produced = 0
        self._args = (bootstrap, topic, batch, every, keys)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        bootstrap, topic, batch, every, keys = self._args
        while not self._stop.is_set():
            first = self.produced
            produce(
                bootstrap,
                topic,
                [
                    (f"k{i % keys}", {"event": "e", "id": i, "status": "s"})
                    for i in range(first, first + batch)
                ],
            )
            self.produced += batch
            self._stop.wait(every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        return self.produced


def test_a_reload_that_removes_a_busy_topic_and_retry_topics_keeps_running(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    busy, calm = create_topic(bootstrap, unique("busy")), create_topic(bootstrap, unique("calm"))
    path, group = tmp_path / "routes.yaml", unique("g")
    receiver.behaviour = lambda _: Reply(200, delay=0.005)
    route = simple_route(
        "calls",
        busy,
        receiver.url,
        topics=[busy, calm],
        retry_topics={"delays": [30], "prefix": unique("retry")},
    )
    routes_file(path, bootstrap, group, [route])
    bridge = start_bridge(path)
    traffic = Traffic(bootstrap, busy)
    receiver.wait_count(50)

    # the busy topic and the retry topics go while records of both are fetched and in flight
    calm_only = {**route, "topics": [calm]}
    del calm_only["retry_topics"]
    routes_file(path, bootstrap, group, [calm_only])
    bridge.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: _logged(bridge, "config reloaded") or not bridge.alive(), timeout=15)
    time.sleep(2.0)  # traffic goes on to a topic that is no longer read
    assert bridge.alive(), bridge.output()[-3000:]
    produced = traffic.stop()

    # the route comes back: what was not delivered is read again, nothing was skipped
    routes_file(path, bootstrap, group, [route])
    bridge.proc.send_signal(signal.SIGHUP)
    wanted = set(range(produced))
    receiver.wait_for(lambda reqs: wanted <= {r.json()["id"] for r in reqs}, timeout=60)
    wait_until(lambda: committed(bootstrap, group, busy) == [produced], timeout=20)
    assert bridge.terminate() == 0
    print(f"\nreload removing a busy topic: produced={produced} requests={len(receiver.requests)}")
