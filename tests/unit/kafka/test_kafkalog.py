"""librdkafka's lines through kafkahooks' logger: structured, rate-limited per client;
"cannot reach Kafka" said once, "reachable again" once."""

from __future__ import annotations

import json
import logging

import pytest

from kafkahooks.kafka import KAFKA_LOGGER, Reachability, consumer_config, with_logger
from kafkahooks.kafka.kafkalog import LibrdkafkaLines
from kafkahooks.telemetry.logs import JsonFormatter

REFUSED = (
    "[thrd:127.0.0.1:9/bootstrap]: 127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed:"
    " Connection refused (after {}ms in state CONNECT)"
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _logger(clock: Clock, every: float = 30.0) -> tuple[logging.Logger, list[logging.LogRecord]]:
    """A logger as confluent-kafka is given one, with the filter, collecting what passes."""
    logger = logging.getLogger(f"test.librdkafka.{id(clock)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.filters[:] = [LibrdkafkaLines(every, clock)]
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.handlers[:] = [Keep()]
    return logger, seen


def _line(logger: logging.Logger, client: str, text: str, level: int = logging.ERROR) -> None:
    """What confluent-kafka calls for each librdkafka line."""
    logger.log(level, "%s [%s] %s", "FAIL", client, text)


def test_a_librdkafka_line_becomes_one_json_record_with_facility_and_client() -> None:
    logger, seen = _logger(Clock())
    _line(logger, "rdkafka#consumer-1", REFUSED.format(0))
    (record,) = seen
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "error"
    assert out["facility"] == "FAIL"
    assert out["client"] == "rdkafka#consumer-1"
    # librdkafka's thread prefix is dropped; the text is librdkafka's own
    assert out["msg"].startswith("127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed")


def test_one_line_is_shown_once_per_interval_per_client_then_says_how_many_it_stood_for() -> None:
    clock = Clock()
    logger, seen = _logger(clock, every=30.0)
    for n in range(200):  # what a refused connection makes in 10 s; "after Nms" varies
        _line(logger, "rdkafka#consumer-1", REFUSED.format(n % 7))
        _line(logger, "rdkafka#producer-2", REFUSED.format(n % 5))
        clock.now += 0.05
    assert [r.__dict__["client"] for r in seen] == ["rdkafka#consumer-1", "rdkafka#producer-2"]
    clock.now += 30.0
    _line(logger, "rdkafka#consumer-1", REFUSED.format(1))
    assert len(seen) == 3
    assert seen[-1].__dict__["repeated"] == 199  # the lines it stood for


def test_different_lines_of_one_client_are_not_held_back_by_each_other() -> None:
    logger, seen = _logger(Clock())
    _line(logger, "c", REFUSED.format(0))
    _line(logger, "c", "1/1 brokers are down")
    assert len(seen) == 2


def test_other_records_on_that_logger_pass_untouched() -> None:
    logger, seen = _logger(Clock())
    logger.warning("plain %s", "text")
    assert seen[0].getMessage() == "plain text"


def test_every_client_config_kafkahooks_builds_carries_its_logger() -> None:
    assert consumer_config("127.0.0.1:9", "g", {})["logger"] is KAFKA_LOGGER
    assert with_logger({"bootstrap.servers": "x"})["logger"] is KAFKA_LOGGER
    assert any(isinstance(f, LibrdkafkaLines) for f in KAFKA_LOGGER.filters)


def test_unreachable_is_said_once_and_reachable_again_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reach = Reachability("127.0.0.1:9")
    with caplog.at_level(logging.INFO, logger="kafkahooks.kafka"):
        reach.unreachable("1/1 brokers are down")
        reach.unreachable("1/1 brokers are down")  # a second member, a second report
        assert reach.since is not None
        reach.reachable()
        reach.reachable()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("cannot reach Kafka at 127.0.0.1:9 since 20")
    assert caplog.records[0].levelno == logging.ERROR
    assert messages[1] == "Kafka reachable again"
    assert reach.since is None
