"""The engine: the per-event chain of steps from a taken record to a finished one.

intake (decode, match routes) → dispatch (lanes, batches; deliver) → settle (delivered /
parked / dead-lettered) → finish (the offset tracker); ``halt`` stops the bridge.
``pipeline.py`` wires the steps and draws the chain.
"""

from kafkahooks.engine.deadletter import HEADER_PREFIX, DeadLetter, DeadLetterWriter, dead_letter
from kafkahooks.engine.dlqlimit import DeadLetterLimit
from kafkahooks.engine.fanout import NO_TENANT, FanOut, tenant_of
from kafkahooks.engine.parking import park_headers
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.engine.scheduler import Ordering, Scheduler
from kafkahooks.engine.settle import Outcome, outcome
from kafkahooks.engine.stats import Stats

__all__ = [
    "HEADER_PREFIX",
    "NO_TENANT",
    "DeadLetter",
    "DeadLetterLimit",
    "DeadLetterWriter",
    "FanOut",
    "Ordering",
    "Outcome",
    "Pipeline",
    "Scheduler",
    "Stats",
    "dead_letter",
    "outcome",
    "park_headers",
    "tenant_of",
]
