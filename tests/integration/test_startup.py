"""Start-up an operator can follow: the group join is explained while it takes, each
assignment is one line, and an unreachable broker is one clear error of kafkahooks' own
instead of a stream of raw librdkafka text (227 lines in 10 s before)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkahooks.demo.broker import EmbeddedBroker, free_port
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, unique
from tests.support.logs import log_records, logged

Start = Callable[..., BridgeProcess]

# librdkafka-derived lines a bridge may write in 10 s with no broker: each of its clients
# (consumer, producer, dead-letter producer) says each distinct line once per 30 s
LIBRDKAFKA_LINES_BOUND = 20


def _closed_port() -> int:
    """A loopback port nobody listens on: bound, then closed (nothing leaves loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _readyz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        failed: dict[str, Any] = json.loads(exc.read())
        return failed
    except urllib.error.URLError:  # not listening yet
        return {}


def _cannot_reach(output: str) -> list[dict[str, Any]]:
    return [r for r in log_records(output) if str(r.get("msg", "")).startswith("cannot reach")]


def test_an_unreachable_broker_is_one_clear_error_not_a_stream_of_raw_lines(
    tmp_path: Path, start_bridge: Start
) -> None:
    kafka = f"127.0.0.1:{_closed_port()}"
    config = routes_file(
        tmp_path / "r.yaml", kafka, unique("g"), [simple_route("r", "t", "http://127.0.0.1:9/")]
    )
    http = free_port()
    started = time.monotonic()
    bridge = start_bridge(
        config, {"KAFKAHOOKS_HTTP_PORT": str(http), "KAFKAHOOKS_HTTP_HOST": "127.0.0.1"}
    )
    wait_until(lambda: _cannot_reach(bridge.output()), timeout=10)
    wait_until(lambda: _readyz(http).get("status") == "kafka unreachable", timeout=5)
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))  # let it keep failing a while
    bridge.kill()
    lines = [line for line in bridge.output().splitlines() if line.strip()]

    raw = [line for line in lines if not line.startswith("{")]
    assert raw == [], f"raw lines on stderr: {raw[:5]}"
    records = [json.loads(line) for line in lines]  # every line is one JSON record
    from_librdkafka = [r for r in records if r["logger"] == "kafkahooks.librdkafka"]
    assert from_librdkafka, "librdkafka's lines are kept, through kafkahooks' logger"
    assert all({"facility", "client"} <= r.keys() for r in from_librdkafka)
    assert len(from_librdkafka) <= LIBRDKAFKA_LINES_BOUND, [r["msg"] for r in from_librdkafka]
    (error,) = _cannot_reach(bridge.output())  # said once
    assert error["msg"].startswith(f"cannot reach Kafka at {kafka} since ")
    assert error["level"] == "error"


def test_a_broker_that_comes_up_later_is_said_reachable_again_and_the_bridge_gets_ready(
    tmp_path: Path, start_bridge: Start
) -> None:
    port, topic = _closed_port(), unique("later")
    config = routes_file(
        tmp_path / "r.yaml",
        f"127.0.0.1:{port}",
        unique("g"),
        [simple_route("r", topic, "http://127.0.0.1:9/")],
        # a topic created later is seen at the next metadata refresh (5 min by default)
        properties={"topic.metadata.refresh.interval.ms": 1000},
    )
    http = free_port()
    bridge = start_bridge(
        config, {"KAFKAHOOKS_HTTP_PORT": str(http), "KAFKAHOOKS_HTTP_HOST": "127.0.0.1"}
    )
    wait_until(lambda: _readyz(http).get("status") == "kafka unreachable", timeout=10)
    with EmbeddedBroker(port) as broker:  # the broker comes up where the bridge looks
        create_topic(broker.bootstrap, topic)
        wait_until(lambda: logged(bridge.output(), "Kafka reachable again"), timeout=30)
        wait_until(lambda: _readyz(http).get("status") == "ready", timeout=30)
        bridge.kill()
    assert len(_cannot_reach(bridge.output())) == 1
    assert len(logged(bridge.output(), "Kafka reachable again")) == 1


def test_the_group_join_wait_is_explained_and_the_assignment_logged(
    bootstrap: str, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("join")), unique("g")
    config = routes_file(
        tmp_path / "r.yaml",
        bootstrap,
        group,
        [simple_route("r", topic, "http://127.0.0.1:9/")],
        properties={"session.timeout.ms": 8000, "heartbeat.interval.ms": 1000},
    )
    bridge = start_bridge(config)
    wait_until(lambda: logged(bridge.output(), "partitions assigned"), timeout=30)
    bridge.terminate()
    records = log_records(bridge.output())

    waits = [r for r in records if str(r.get("msg", "")).startswith("waiting to join")]
    assert waits, "the wait for the group join is said"
    wait = waits[0]
    assert wait["group"] == group
    assert wait["session_timeout_ms"] == 8000
    assert "about half of session.timeout.ms (8000 ms" in wait["msg"]
    assert "session.timeout.ms: 6000" in wait["msg"]  # the local-development value
    (assigned, *_) = logged(bridge.output(), "partitions assigned")
    assert assigned["group"] == group
    assert assigned["partitions"]
    assert assigned["since_subscribe_s"] > 0
    assert not _cannot_reach(bridge.output())


def test_a_join_held_up_by_a_missing_topic_says_so(
    bootstrap: str, tmp_path: Path, start_bridge: Start
) -> None:
    """librdkafka does not join while no subscribed topic exists: the wait names that,
    not the session timeout."""
    topic, group = unique("missing"), unique("g")
    config = routes_file(
        tmp_path / "r.yaml", bootstrap, group, [simple_route("r", topic, "http://127.0.0.1:9/")]
    )
    bridge = start_bridge(config)

    def explained() -> bool:
        waits = [r for r in log_records(bridge.output()) if "waiting to join" in r["msg"]]
        return any("no subscribed topic is there yet" in r["msg"] for r in waits)

    wait_until(explained, timeout=20)
    bridge.kill()
