"""Everything that talks to librdkafka: the consumer loop, the offsets tracker, the one committer,
the acknowledged producer, topic admin, the delivery-attempt log (written, and followed for the
API), the store topic, the progress topic (finished offsets above the committed ones).
"""

from kafkahooks.kafka.commits import TransactionalCommits, TransactionStopped
from kafkahooks.kafka.consumer import ConsumerLoop, consumer_config
from kafkahooks.kafka.deliveryfollower import (
    DeliveryLogError,
    DeliveryLogFollower,
    EndpointRead,
    FollowerLoad,
    partition_for,
)
from kafkahooks.kafka.deliverylog import AttemptRecord, DeliveryLog
from kafkahooks.kafka.kafkalog import KAFKA_LOGGER, Reachability, with_logger
from kafkahooks.kafka.offsets import OffsetTracker, TopicPartitionKey
from kafkahooks.kafka.producer import AckedProducer, ProduceError, producer_properties
from kafkahooks.kafka.progress import PROGRESS_TOPIC, Progress, ProgressLog
from kafkahooks.kafka.reader import ReadResult, TopicMissingError, TopicReadError, read_topic
from kafkahooks.kafka.storelog import (
    MARKER_PREFIX,
    StoreError,
    StoreLoad,
    StoreLog,
    StoreTopicError,
    StoreUnavailableError,
    StoreWriteError,
    check_store_topic,
    ensure_store_topic,
)
from kafkahooks.kafka.topics import create_topics, ensure_topics

__all__ = [
    "KAFKA_LOGGER",
    "MARKER_PREFIX",
    "PROGRESS_TOPIC",
    "AckedProducer",
    "AttemptRecord",
    "ConsumerLoop",
    "DeliveryLog",
    "DeliveryLogError",
    "DeliveryLogFollower",
    "EndpointRead",
    "FollowerLoad",
    "OffsetTracker",
    "ProduceError",
    "Progress",
    "ProgressLog",
    "Reachability",
    "ReadResult",
    "StoreError",
    "StoreLoad",
    "StoreLog",
    "StoreTopicError",
    "StoreUnavailableError",
    "StoreWriteError",
    "TopicMissingError",
    "TopicPartitionKey",
    "TopicReadError",
    "TransactionStopped",
    "TransactionalCommits",
    "check_store_topic",
    "consumer_config",
    "create_topics",
    "ensure_store_topic",
    "ensure_topics",
    "partition_for",
    "producer_properties",
    "read_topic",
    "with_logger",
]
