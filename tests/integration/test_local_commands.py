"""``kafkahooks broker``, ``listen`` and ``produce`` as real processes, on loopback: ready
lines, what a delivery looks like, clean exit 0 on SIGTERM, exit 1 when the broker dies,
and produced records read back as the file described them."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

CLI = [sys.executable, "-m", "kafkahooks.cli"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _accepts(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def _broker(procs: list[subprocess.Popen[str]], *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = _start("broker", *args)
    procs.append(proc)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"at (127\.0\.0\.1:\d+)$", first.strip())
    assert match, first
    return proc, match.group(1)


def test_broker_prints_its_address_and_settings_and_stops_on_sigterm(
    procs: list[subprocess.Popen[str]],
) -> None:
    proc, bootstrap = _broker(procs, "--topic", "local.a")
    assert proc.stdout is not None
    banner = [proc.stdout.readline() for _ in range(6)]
    assert f"  export KAFKA_BOOTSTRAP={bootstrap}\n" in banner
    assert "  export SESSION_TIMEOUT_MS=2000 HEARTBEAT_INTERVAL_MS=500\n" in banner
    assert "  topics: local.a\n" in banner
    assert _accepts(bootstrap)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert not _accepts(bootstrap)  # the broker it started is gone too


def test_broker_exits_1_when_the_broker_dies(procs: list[subprocess.Popen[str]]) -> None:
    proc, _ = _broker(procs)
    [tansu] = _children(proc.pid)
    os.kill(tansu, signal.SIGKILL)
    assert proc.wait(15) == 1
    assert proc.stderr is not None
    assert "the broker exited by itself" in proc.stderr.read()


def test_listen_prints_each_delivery_and_a_tally_on_sigterm(
    procs: list[subprocess.Popen[str]],
) -> None:
    proc = _start("listen", "--port", "0", "--secret", "s3cret")
    procs.append(proc)
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+/webhooks)", ready)
    assert url, ready
    body = b'{"n":1}'
    signature = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    good = urllib.request.Request(
        url.group(1), body, {"x-signature": signature, "webhook-id": "evt_1"}
    )
    with urllib.request.urlopen(good, timeout=5) as answer:
        assert answer.status == 200
    bad = urllib.request.Request(url.group(1) + "/x", body, {"x-signature": "00"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=5)
    assert refused.value.code == 401
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    first, second, tally = out.strip().splitlines()
    assert first.endswith('POST /webhooks webhook-id=evt_1 verified body={"n":1}')
    assert "POST /webhooks/x webhook-id=- NOT verified: signature mismatch" in second
    assert tally == "received 1 verified, 1 not verified"


def test_produce_writes_a_files_events_as_described(
    procs: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    _, bootstrap = _broker(procs, "--topic", "local.b")
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps([{"value": {"n": 1}, "key": "k1", "headers": {"h": "v"}}, {"n": 2}])
    )
    done = subprocess.run(
        [
            *CLI,
            "produce",
            "--bootstrap",
            bootstrap,
            "--topic",
            "local.b",
            "--file",
            str(events),
            "--count",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"produced 4 events to local.b at {bootstrap}"

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition("local.b", 0, 0)])
    seen: list[tuple[bytes | None, bytes | None, object]] = []
    deadline = time.monotonic() + 20
    try:
        while len(seen) < 4 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen.append((msg.key(), msg.value(), msg.headers()))
    finally:
        consumer.close()
    assert (
        seen
        == [
            (b"k1", b'{"n":1}', [("h", b"v")]),
            (None, b'{"n":2}', None),
        ]
        * 2
    )
