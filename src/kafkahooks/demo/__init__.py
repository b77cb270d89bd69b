"""The embedded demo and the local development tools: a local broker, a verifying
receiver, sample traffic.

A lazy door (PEP 562): a name is imported from its module on first use, so that
``kafkahooks listen`` (a receiver: no Kafka) does not pay for the demo's bridge and
Kafka clients.  ``__all__`` lists every name; ``_HOMES`` says where each lives
(``kafkahooks/lazy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkahooks.lazy import lazy_door

if TYPE_CHECKING:
    from kafkahooks.demo.broker import EmbeddedBroker, free_port
    from kafkahooks.demo.customers import run_endpoints_demo
    from kafkahooks.demo.listen import (
        ListenReceiver,
        SignatureCheck,
        escape_excerpt,
        signature_check,
    )
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
    "run_endpoints_demo",
    "sample_records",
    "signature_check",
]

_HOMES = {
    "EmbeddedBroker": "broker",
    "free_port": "broker",
    "ListenReceiver": "listen",
    "SignatureCheck": "listen",
    "escape_excerpt": "listen",
    "signature_check": "listen",
    "OutgoingRecord": "produce",
    "ProduceError": "produce",
    "file_records": "produce",
    "produce_events": "produce",
    "sample_records": "produce",
    "run_demo": "run",
    "run_endpoints_demo": "customers",
}


__getattr__ = lazy_door(__name__, globals(), _HOMES)
