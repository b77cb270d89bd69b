"""Failures you can see: a failed attempt is logged when it fails, the delivery log and the
dead letter say what the receiver answered, ``dlq list``/``show``/``replay --event-id`` find
it, and ``deliveries`` never presents a read it could not finish as an empty log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafkahooks.demo.broker import free_port
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import Receiver, Reply, Request

Start = Callable[..., BridgeProcess]
ANSWER = b"upstream down\n\x1b[31mred" + b"x" * 400  # control characters, and too long


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
        "KAFKAHOOKS_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_503_is_logged_recorded_dead_lettered_with_its_answer_and_listed(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group, log_topic = create_topic(bootstrap, unique("calls")), unique("g"), unique("log")
    dlq = create_topic(bootstrap, f"{topic}.dlq")

    def behaviour(request: Request) -> Reply:
        return Reply(503, body=ANSWER) if request.json()["id"] == 1 else Reply(200)

    receiver.behaviour = behaviour
    produce(bootstrap, topic, [(f"k{i}", {"event": "e", "id": i, "status": "s"}) for i in (0, 1)])
    config = routes_file(
        tmp_path / "r.yaml",
        bootstrap,
        group,
        [simple_route("calls", topic, receiver.url + "?token=s3cret-in-query")],
        delivery_log_topic=log_topic,
    )
    bridge = start_bridge(config)
    (dead,) = read_topic(bootstrap, dlq, 1)
    wait_until(lambda: committed(bootstrap, group, topic) == [2], timeout=30)
    assert bridge.terminate() == 0
    event_id = next(r for r in receiver.requests if r.json()["id"] == 1).headers["webhook-id"]

    # logged when it failed, once for three quick failures (rate-limited per endpoint)
    failed = [
        json.loads(line)
        for line in bridge.output().splitlines()
        if "delivery attempt" in line and "failed" in line
    ]
    assert len(failed) == 1, bridge.output()
    line = failed[0]
    assert line["msg"] == "delivery attempt 1 of 3 failed: HTTP 503"
    assert line["endpoint"] == receiver.url.rsplit("/", 1)[0]  # the origin only
    assert (line["route"], line["status"], line["attempt"], line["max_attempts"]) == (
        "calls",
        503,
        1,
        3,
    )
    assert line["error_class"] == "RetryableDeliveryError" and line["latency_ms"] >= 0
    assert "s3cret" not in bridge.output()

    # the dead letter carries the answer's excerpt and the endpoint (no query)
    headers = headers_of(dead)
    excerpt = headers["kafkahooks.http.response_excerpt"]
    assert excerpt.startswith("upstream down\\n\\x1b[31mred") and len(excerpt) <= 256 + 16
    assert "\n" not in excerpt and "\x1b" not in excerpt
    assert headers["kafkahooks.endpoint"] == receiver.url
    assert headers["kafkahooks.http.status"] == "503"

    # the delivery log names the error of every failed attempt, with the excerpt
    out = cli("deliveries", "--config", str(config), "--event-id", event_id)
    assert out.returncode == 0, out.stderr
    assert "3 attempts, 0 succeeded, 3 failed" in out.stdout
    assert out.stdout.count("HTTP 503") == 3 and "upstream down\\\\n" in out.stdout

    listed = cli("dlq", "list", "--config", str(config), "--since", "10m")
    assert listed.returncode == 0, listed.stderr
    assert event_id in listed.stdout and "RetryableDeliveryError: HTTP 503" in listed.stdout
    assert "upstream down" in listed.stdout and "1 dead letters" in listed.stdout
    none = cli("dlq", "list", "--config", str(config), "--reason", "HTTP 400")
    assert none.returncode == 0 and "0 dead letters" in none.stdout

    shown = cli("dlq", "show", "--config", str(config), "--event-id", event_id)
    assert shown.returncode == 0, shown.stderr
    assert f"endpoint:   {receiver.url}\n" in shown.stdout
    assert "status:     503" in shown.stdout and "attempts:   3" in shown.stdout
    missing = cli("dlq", "show", "--config", str(config), "--event-id", "evt_nope")
    assert missing.returncode == 1 and "no dead letter with event id 'evt_nope'" in missing.stderr

    dry = cli(
        "dlq",
        "replay",
        "--config",
        str(config),
        "--route",
        "calls",
        "--event-id",
        event_id,
        "--dry-run",
    )
    assert dry.returncode == 0, dry.stderr
    assert "would replay 1" in dry.stdout and "replayed" not in dry.stdout
    assert dry.stdout.count("would send") == 1

    receiver.behaviour = lambda _: Reply(200)  # fixed: replay that one event for real
    sent = len(receiver.requests)
    again = cli(
        "dlq", "replay", "--config", str(config), "--route", "calls", "--event-id", event_id
    )
    assert again.returncode == 0, again.stderr
    assert "replayed 1, delivered 1" in again.stdout
    assert [r.headers["webhook-id"] for r in receiver.requests[sent:]] == [event_id]
    assert committed(bootstrap, "kafkahooks-replay-calls", dlq) == [-1001]  # none: one event
    unknown = cli(
        "dlq", "replay", "--config", str(config), "--route", "calls", "--event-id", "evt_nope"
    )
    assert unknown.returncode == 1 and "has event id 'evt_nope'" in unknown.stderr


def _attempt(i: int) -> dict[str, object]:
    return {
        "event_id": f"evt_{i}",
        "route": "calls",
        "attempt": 1,
        "status": 200,
        "latency_ms": 1.0,
        "error": None,
        "at": time.time(),
    }


def test_deliveries_reads_without_a_group_join(bootstrap: str, tmp_path: Path) -> None:
    """The client's default session timeout makes a group join take ~23 s here: an answer
    within an 8 s read shows no group was joined."""
    log_topic = create_topic(bootstrap, unique("log"))
    produce(bootstrap, log_topic, [(f"evt_{i}", _attempt(i)) for i in range(9)])
    config = routes_file(
        tmp_path / "r.yaml",
        bootstrap,
        unique("g"),
        [simple_route("calls", unique("calls"), "http://127.0.0.1:9/hooks")],
        properties={"session.timeout.ms": 45000, "heartbeat.interval.ms": 3000},
        delivery_log_topic=log_topic,
    )
    out = cli("deliveries", "--config", str(config), "--timeout", "8")
    assert out.returncode == 0, out.stderr
    assert "9 attempts, 9 succeeded, 0 failed" in out.stdout


def test_an_unreachable_broker_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # loopback, nothing listening
    config = routes_file(
        tmp_path / "r.yaml",
        nobody,
        unique("g"),
        [simple_route("calls", "calls", "http://127.0.0.1:9/hooks")],
        delivery_log_topic="kafkahooks.deliveries",
    )
    out = cli("deliveries", "--config", str(config), "--timeout", "2")
    assert out.returncode == 1
    assert "attempts" not in out.stdout
    assert "cannot read metadata of topic 'kafkahooks.deliveries'" in out.stderr
    listed = cli("dlq", "list", "--config", str(config), "--timeout", "2")
    assert listed.returncode == 1
    assert "cannot read metadata of topic 'calls.dlq'" in listed.stderr
