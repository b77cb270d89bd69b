"""410 Gone: the route is disabled until restart (a hot reload does not enable it); later
events are dead-lettered as route-disabled without a request, the change is logged once and
shown in metrics."""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kafkahooks.demo.broker import free_port
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply


def test_410_disables_the_route_until_restart(
    bootstrap: str, receiver: Receiver, tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    receiver.behaviour = lambda _: Reply(410, body=b'{"error":"gone"}')
    topic, group = create_topic(bootstrap, unique("gone")), unique("g")
    produce(bootstrap, topic, [("call-1", {"event": "status-changed", "id": i, "status": "x"})
                               for i in range(5)])
    config = routes_file(tmp_path / "r.yaml", bootstrap, group,
                         [simple_route("calls", topic, receiver.url)])
    port = free_port()
    bridge = start_bridge(config, {"KAFKAHOOKS_HTTP_PORT": str(port),
                                   "KAFKAHOOKS_HTTP_HOST": "127.0.0.1"})
    dead = read_topic(bootstrap, f"{topic}.dlq", 5, timeout=30)
    wait_until(lambda: committed(bootstrap, group, topic) == [5], timeout=15)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert bridge.terminate() == 0

    assert len(receiver.requests) == 1  # only the event that met the 410
    reasons = [headers_of(m)["kafkahooks.error.message"] for m in dead]
    assert reasons[0] == "HTTP 410"
    assert reasons[1:] == ["route-disabled"] * 4
    assert {headers_of(m)["kafkahooks.error.class"] for m in dead[1:]} == {"RouteDisabledError"}
    assert [headers_of(m)["kafkahooks.attempts"] for m in dead[1:]] == ["0"] * 4
    assert 'kafkahooks_route_disabled{route="calls"} 1.0' in metrics
    out = bridge.output()
    assert len([line for line in out.splitlines() if "route disabled" in line]) == 1
    assert len(logged(out, "dead-lettered")) == 1  # the 410 itself; the rest are not repeated

    # a restart enables the route again
    receiver.behaviour = lambda _: Reply(200)
    produce(bootstrap, topic, [("call-1", {"event": "status-changed", "id": 9, "status": "x"})])
    again = start_bridge(config)
    receiver.wait_count(2)
    wait_until(lambda: committed(bootstrap, group, topic) == [6], timeout=15)
    assert again.terminate() == 0
    assert receiver.requests[-1].json()["id"] == 9


def test_a_disabled_route_stays_disabled_across_a_reload(
    bootstrap: str, receiver: Receiver, tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    receiver.behaviour = lambda _: Reply(410)
    topic, group = create_topic(bootstrap, unique("gone")), unique("g")
    route = simple_route("calls", topic, receiver.url)
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    bridge = start_bridge(config)
    produce(bootstrap, topic, [("call-1", {"event": "status-changed", "id": 0, "status": "x"})])
    read_topic(bootstrap, f"{topic}.dlq", 1, timeout=30)

    # an edit of the route (not of its endpoint) is applied, and the route stays disabled
    route["template"] = {**route["template"], "edited": True}
    routes_file(config, bootstrap, group, [route])
    bridge.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: logged(bridge.output(), "config reloaded"), timeout=15)
    produce(bootstrap, topic, [("call-1", {"event": "status-changed", "id": 1, "status": "x"})])
    dead = read_topic(bootstrap, f"{topic}.dlq", 2, timeout=30)
    wait_until(lambda: committed(bootstrap, group, topic) == [2], timeout=15)
    assert bridge.terminate() == 0

    assert len(receiver.requests) == 1  # nothing was sent after the reload
    assert [headers_of(m)["kafkahooks.error.message"] for m in dead] == [
        "HTTP 410", "route-disabled"]
