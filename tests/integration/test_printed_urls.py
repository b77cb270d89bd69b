"""``dlq replay --dry-run`` prints where it would send without the URL's secrets
(issue 11, section 7): a token in the path from ``${VAR}`` and query values are masked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from confluent_kafka import Producer

from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.event import Event
from tests.support.bridge import routes_file, simple_route
from tests.support.kafka import create_topic, unique
from tests.support.receiver import Receiver

HOOK_TOKEN = "T0KEN-in-the-path-5e1"


def test_dry_run_masks_the_token_in_the_url(
    bootstrap: str, receiver: Receiver, tmp_path: Path
) -> None:
    topic = unique("calls")
    dlq = create_topic(bootstrap, f"{topic}.dlq")
    event = Event(
        topic, 0, 0, 1_700_000_000_000, b"call-0", b'{"event": "e", "id": 0, "status": "ended"}'
    )
    record = DeadLetter(
        topic=dlq,
        event=event,
        error_class="PermanentDeliveryError",
        error_message="HTTP 400",
        route="calls",
        status=400,
        attempts=1,
        event_id="evt_original_0",
    )
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(dlq, value=record.value, key=record.event.key, headers=record.headers())
    assert producer.flush(10) == 0
    url = receiver.url + "/${HOOK_TOKEN}?sig=${HOOK_TOKEN}"
    config = routes_file(
        tmp_path / "r.yaml", bootstrap, unique("g"), [simple_route("calls", topic, url)]
    )
    env = {
        **os.environ,
        "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
        "KAFKAHOOKS_LOG_LEVEL": "WARNING",
        "HOOK_TOKEN": HOOK_TOKEN,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kafkahooks.cli",
            "dlq",
            "replay",
            "--config",
            str(config),
            "--route",
            "calls",
            "--dry-run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"→ POST http://127.0.0.1:{receiver.port}/hooks/********?sig=********, " in done.stdout
    ), done.stdout
    assert HOOK_TOKEN not in done.stdout + done.stderr
    assert receiver.requests == []
