"""The embedded demo and the local development tools: a local broker, a verifying
receiver, sample traffic."""

from kafkahooks.demo.broker import EmbeddedBroker, free_port
from kafkahooks.demo.listen import ListenReceiver, SignatureCheck, escape_excerpt, signature_check
from kafkahooks.demo.produce import (
    OutgoingRecord,
    ProduceError,
    file_records,
    produce_events,
    sample_records,
)
from kafkahooks.demo.run import run_demo

__all__ = [
    "EmbeddedBroker",
    "ListenReceiver",
    "OutgoingRecord",
    "ProduceError",
    "SignatureCheck",
    "escape_excerpt",
    "file_records",
    "free_port",
    "produce_events",
    "run_demo",
    "sample_records",
    "signature_check",
]
