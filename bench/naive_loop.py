"""Row ``naive``: poll one message, synchronous httpx POST, synchronous commit.

Usage: naive_loop.py BOOTSTRAP GROUP URL TOPIC[,TOPIC...]
Prints one JSON line with its commit count when stopped (SIGTERM).
"""

from __future__ import annotations

import json
import signal
import sys

import httpx
from confluent_kafka import Consumer
from handmade import body, headers


def main(bootstrap: str, group: str, url: str, topics: str) -> None:
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe(topics.split(","))
    commits = 0
    with httpx.Client(timeout=10) as client:
        while not stop:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            key = (msg.key() or b"").decode()
            source = f"{msg.topic()}/{msg.partition()}@{msg.offset()}"
            payload = body(json.loads(msg.value() or b"{}"), key, source)
            client.post(url, content=payload, headers=headers(payload, source)).raise_for_status()
            consumer.commit(message=msg, asynchronous=False)
            commits += 1
    consumer.close()
    print(json.dumps({"commits": commits}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
