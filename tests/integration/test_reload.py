"""Hot reload: a valid routes file applies to events not yet sent; an invalid one is refused."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, produce, unique
from tests.support.receiver import Receiver

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
