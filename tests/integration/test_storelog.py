"""The store topic on the real test broker: refused topics, load to a marker, follow, write.

The test broker's end offset is wrong after a multi-record batch (DESIGN): the 1,000-record
test shows it and shows that a load still reads every record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from kafkahooks.demo.broker import EmbeddedBroker, free_port
from kafkahooks.kafka import (
    MARKER_PREFIX,
    StoreLog,
    StoreTopicError,
    StoreUnavailableError,
    StoreWriteError,
    check_store_topic,
    ensure_store_topic,
)
from tests.support.kafka import unique


class Applied:
    """An ``apply`` callable that records what it is given and refuses markers."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.records: list[tuple[str, bytes | None, int]] = []
        self.fail_on = fail_on

    def __call__(self, key: str, value: bytes | None, offset: int) -> bool:
        assert not key.startswith(MARKER_PREFIX), "a marker reached apply"
        if self.fail_on is not None and value == self.fail_on:
            raise ValueError(f"cannot apply {value!r}")
        self.records.append((key, value, offset))
        return True

    def last(self) -> dict[str, bytes | None]:
        return {key: value for key, value, _ in self.records}


@pytest.fixture
def props(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap}


@pytest.fixture
def store_topic(props: dict[str, Any]) -> str:
    topic = unique("store")
    assert ensure_store_topic(props, topic, 15) is True
    return topic


@pytest.fixture
def open_store(props: dict[str, Any]) -> Iterator[Any]:
    opened: list[StoreLog] = []

    def make(topic: str, apply: Applied, name: str = "store") -> StoreLog:
        store = StoreLog(props, topic, apply, name=name)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def _create(bootstrap: str, topic: str, partitions: int, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, config=config)]).values():
        future.result(10)


def _described_configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    return {name: entry.value for name, entry in configs.items()}


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


# --- the topic ------------------------------------------------------------------------------


def test_a_topic_with_two_partitions_is_refused(bootstrap: str, props: dict[str, Any]) -> None:
    topic = unique("store")
    _create(bootstrap, topic, 2, {"cleanup.policy": "compact"})
    with pytest.raises(StoreTopicError, match=rf"{topic}.*2 partitions.*exactly 1 partition"):
        check_store_topic(props, topic, 10)


def test_a_topic_with_the_delete_policy_is_refused(bootstrap: str, props: dict[str, Any]) -> None:
    topic = unique("store")
    _create(bootstrap, topic, 1, {"cleanup.policy": "delete"})
    with pytest.raises(StoreTopicError, match=rf"{topic}.*cleanup.policy=delete.*=compact"):
        check_store_topic(props, topic, 10)


def test_a_topic_that_describes_no_policy_counts_as_delete(
    bootstrap: str, props: dict[str, Any]
) -> None:
    topic = unique("store")
    _create(bootstrap, topic, 1, {})
    assert "cleanup.policy" not in _described_configs(bootstrap, topic)  # the broker's part
    with pytest.raises(StoreTopicError, match=rf"{topic}.*cleanup.policy=delete"):
        check_store_topic(props, topic, 10)


def test_a_missing_topic_is_refused_and_not_created(bootstrap: str, props: dict[str, Any]) -> None:
    topic = unique("store")
    with pytest.raises(StoreTopicError, match=rf"{topic}.*does not exist.*1 partition"):
        check_store_topic(props, topic, 10)
    assert topic not in _topics(bootstrap)  # asking by name would auto-create it here


def test_ensure_creates_a_compacted_single_partition_topic_once(
    bootstrap: str, props: dict[str, Any]
) -> None:
    topic = unique("store")
    assert ensure_store_topic(props, topic, 15) is True
    assert ensure_store_topic(props, topic, 15) is False
    assert _described_configs(bootstrap, topic)["cleanup.policy"] == "compact"
    check_store_topic(props, topic, 10)


# --- reading --------------------------------------------------------------------------------


def test_load_of_an_empty_store_reads_its_marker_only(store_topic: str, open_store: Any) -> None:
    applied = Applied()
    loaded = open_store(store_topic, applied).load(15)
    assert (loaded.records, loaded.offset) == (1, 0)
    assert applied.records == []


def test_a_last_batch_of_1000_records_is_read_completely(
    bootstrap: str, store_topic: str, open_store: Any
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1000})
    for i in range(1000):
        producer.produce(store_topic, key=f"ep_{i:04d}", value=b"v%d" % i, partition=0)
    assert producer.flush(15) == 0  # one flush: one produce batch
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("watermarks")})
    try:
        _, end = reader.get_watermark_offsets(TopicPartition(store_topic, 0), 10, cached=False)
    finally:
        reader.close()
    assert end < 1000, "the broker's end offset is right: this test no longer shows why"

    applied = Applied()
    loaded = open_store(store_topic, applied).load(30)

    assert [offset for _, _, offset in applied.records] == list(range(1000))
    assert applied.last()["ep_0999"] == b"v999"
    assert (loaded.records, loaded.offset) == (1001, 1000)  # the records and the marker


def test_superseded_records_and_tombstones_are_applied_in_order(
    store_topic: str, open_store: Any
) -> None:
    writer = open_store(store_topic, Applied(), name="writer")
    writer.write("ep_a", b"a1", 10)
    writer.write("ep_b", b"b1", 10)
    writer.write("ep_a", b"a2", 10)
    writer.write("ep_b", None, 10)

    applied = Applied()
    open_store(store_topic, applied, name="reader").load(15)

    assert [(k, v) for k, v, _ in applied.records] == [
        ("ep_a", b"a1"),
        ("ep_b", b"b1"),
        ("ep_a", b"a2"),
        ("ep_b", None),
    ]
    assert applied.last() == {"ep_a": b"a2", "ep_b": None}


def test_markers_of_earlier_loads_are_never_applied(store_topic: str, open_store: Any) -> None:
    first = open_store(store_topic, Applied(), name="first")
    first.load(15)
    first.write("ep_a", b"a", 10)
    first.sync(10)

    applied = Applied()  # fails the test if a marker reaches it
    loaded = open_store(store_topic, applied, name="second").load(15)

    assert [(k, v) for k, v, _ in applied.records] == [("ep_a", b"a")]
    # first load's marker and its tombstone, the record, sync's marker and its tombstone,
    # and this load's own marker
    assert loaded.records == 6


def test_records_without_a_usable_key_are_skipped_and_counted(
    bootstrap: str, store_topic: str, open_store: Any
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key in (None, b"\xff\xfe", b"ep_ok"):
        producer.produce(store_topic, key=key, value=b"v", partition=0)
    assert producer.flush(10) == 0

    applied = Applied()
    store = open_store(store_topic, applied)
    store.load(15)

    assert applied.records == [("ep_ok", b"v", 2)]
    assert store.not_applied == 2


def test_load_and_write_refuse_a_missing_topic_instead_of_creating_it(
    bootstrap: str, props: dict[str, Any], open_store: Any
) -> None:
    topic = unique("store")
    store = open_store(topic, Applied())
    with pytest.raises(StoreTopicError, match="does not exist"):
        store.load(10)
    with pytest.raises(StoreTopicError, match="does not exist"):
        store.write("ep_a", b"a", 10)
    assert topic not in _topics(bootstrap)  # a plain write would have auto-created it here


def test_writes_return_increasing_acknowledged_offsets(store_topic: str, open_store: Any) -> None:
    store = open_store(store_topic, Applied())
    offsets = [store.write(f"ep_{i}", b"x", 10) for i in range(5)]
    assert offsets == sorted(offsets) and len(set(offsets)) == 5
    applied = Applied()
    open_store(store_topic, applied, name="reader").load(15)
    assert [offset for _, _, offset in applied.records] == offsets


# --- following ------------------------------------------------------------------------------


def test_a_following_store_applies_another_ones_write(store_topic: str, open_store: Any) -> None:
    writer = open_store(store_topic, Applied(), name="writer")
    follower_applied = Applied()
    follower = open_store(store_topic, follower_applied, name="follower")
    follower.load(15)
    follower.follow()
    assert follower.following

    offset = writer.write("ep_new", b"hello", 10)

    assert follower.wait_applied(offset, 10)
    assert follower.applied >= offset
    assert ("ep_new", b"hello", offset) in follower_applied.records
    assert follower.last_error is None
    assert follower.sync(10) > offset  # read-your-writes through the follower thread
    with pytest.raises(ValueError, match="markers"):
        writer.write(f"{MARKER_PREFIX}mine", b"", 10)


def test_a_writer_reads_up_to_its_own_offset_without_a_follower(
    store_topic: str, open_store: Any
) -> None:
    applied = Applied()
    store = open_store(store_topic, applied)
    store.load(15)
    offset = store.write("ep_mine", b"v", 10)
    assert store.wait_applied(offset, 10)
    assert applied.records[-1] == ("ep_mine", b"v", offset)
    assert store.sync(10) > offset


def test_a_record_apply_raises_on_is_skipped_and_following_goes_on(
    store_topic: str, open_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kafkahooks.store")
    applied = Applied(fail_on=b"secret-bad")
    store = open_store(store_topic, applied)
    store.load(15)
    store.follow()
    store.write("ep_bad", b"secret-bad", 10)
    good = store.write("ep_good", b"good", 10)

    assert store.wait_applied(good, 10)

    assert applied.last() == {"ep_good": b"good"}
    assert store.not_applied == 1 and store.following
    lines = [r for r in caplog.records if r.getMessage() == "store record not applied"]
    assert [getattr(r, "error", None) for r in lines] == ["ValueError"]
    assert "secret-bad" not in caplog.text and "ep_bad" not in caplog.text


def test_close_stops_the_follower_promptly(store_topic: str, props: dict[str, Any]) -> None:
    store = StoreLog(props, store_topic, Applied())
    store.load(15)
    store.follow()
    started = time.monotonic()
    store.close()
    assert not store.following
    assert time.monotonic() - started < 5


# --- an unreachable broker ------------------------------------------------------------------


def test_an_unreachable_broker_fails_writes_and_load_naming_it() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    store = StoreLog({"bootstrap.servers": address}, "kafkahooks.endpoints", Applied())
    try:
        with pytest.raises(StoreUnavailableError, match=rf"kafkahooks.endpoints.*{address}"):
            store.load(1)
        assert not store.loaded
        with pytest.raises(StoreUnavailableError, match=rf"kafkahooks.endpoints.*{address}"):
            store.write("ep_a", b"a", 1)
    finally:
        store.close(1)


def test_a_write_the_broker_does_not_acknowledge_raises() -> None:
    with EmbeddedBroker() as own:  # this test stops its broker
        props = {"bootstrap.servers": own.bootstrap}
        ensure_store_topic(props, "kafkahooks.endpoints", 15)
        store = StoreLog(props, "kafkahooks.endpoints", Applied())
        try:
            store.load(15)
            store.follow()
            own.kill()
            with pytest.raises(StoreWriteError, match=r"not acknowledged within 2s.*may still"):
                store.write("ep_a", b"a", 2)
            assert store.following  # the follower outlives the broker
            assert "ALL_BROKERS_DOWN" in (store.last_error or "")  # for the health output
        finally:
            store.close(2)
