"""The demo's own Kafka clients (the topic admin and the event producer) hand librdkafka's
lines to kafkahooks' logger, as every other client does (``kafka/kafkalog.py``).

Without it, a broker that goes away mid-demo wrote raw librdkafka text to stderr, in
between the demo's progress lines and outside the structured, rate-limited log.
"""

from __future__ import annotations

from typing import Any

import pytest

from kafkahooks.demo import run
from kafkahooks.kafka import KAFKA_LOGGER


class _Done:
    def result(self, _timeout: float) -> None:
        return None


class _Admin:
    def __init__(self, conf: dict[str, Any], made: list[dict[str, Any]]) -> None:
        made.append(conf)

    def create_topics(self, topics: list[Any]) -> dict[str, _Done]:
        return {topic.topic: _Done() for topic in topics}


class _Producer:
    def __init__(self, conf: dict[str, Any], made: list[dict[str, Any]]) -> None:
        made.append(conf)
        self.produced = 0

    def produce(self, _topic: str, key: str, value: bytes) -> None:
        self.produced += 1

    def flush(self, _timeout: float = 0) -> int:
        return 0


def test_the_demo_clients_log_through_kafkahooks(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(run, "AdminClient", lambda conf: _Admin(conf, made))
    monkeypatch.setattr(run, "Producer", lambda conf: _Producer(conf, made))
    assert run.produce("127.0.0.1:9092", events=8, calls=2) == 8
    assert len(made) == 2  # the admin, then the producer
    assert all(conf.get("logger") is KAFKA_LOGGER for conf in made)
    assert all(conf["bootstrap.servers"] == "127.0.0.1:9092" for conf in made)
