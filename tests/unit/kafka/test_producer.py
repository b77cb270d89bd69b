"""Producer properties: one function for every producer kafkahooks makes."""

from __future__ import annotations

from kafkahooks.config.models import KafkaConfig
from kafkahooks.kafka import KAFKA_LOGGER
from kafkahooks.kafka.producer import producer_properties

KAFKA = KafkaConfig.model_validate(
    {
        "bootstrap_servers": "broker-1:9092",
        "properties": {
            "security.protocol": "SASL_SSL",
            "sasl.password": "pw-1",
            "session.timeout.ms": 6000,
            "auto.offset.reset": "latest",
            "partition.assignment.strategy": "range",
            "fetch.min.bytes": 1,
            "enable.partition.eof": True,
        },
        "dead_letter_properties": {"bootstrap.servers": "dlq:9092", "sasl.password": "pw-2"},
    }
)


def test_a_producer_gets_the_shared_properties_without_the_consumer_only_ones() -> None:
    assert producer_properties(KAFKA) == {
        "bootstrap.servers": "broker-1:9092",
        "security.protocol": "SASL_SSL",
        "sasl.password": "pw-1",
        "logger": KAFKA_LOGGER,  # librdkafka's lines through kafkahooks' logger
    }


def test_the_dead_letter_producer_gets_its_own_properties_on_top() -> None:
    assert producer_properties(KAFKA, dead_letters=True) == {
        "bootstrap.servers": "dlq:9092",
        "security.protocol": "SASL_SSL",
        "sasl.password": "pw-2",
        "logger": KAFKA_LOGGER,
    }
