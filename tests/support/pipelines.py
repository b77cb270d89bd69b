"""A pipeline with no Kafka and no network: fake dead-letter writer, scripted sender.

For unit tests of intake and outcomes: records go in through ``accept`` as the
consumer loop hands them over; what was delivered, dead-lettered and finished
is read back from the fakes and the offset tracker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kafkahooks.config.models import RouteConfig
from kafkahooks.decode import Decoders
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import RouteTable
from kafkahooks.delivery.sender import Response
from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.engine.dlqlimit import DeadLetterLimit
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.kafka.offsets import OffsetTracker


class Answering:
    """A sender that answers every request with ``status`` and remembers it."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> Response:
        self.sent.append(request)
        return Response(self.status)

    async def aclose(self) -> None:
        pass


class DeadLetters:
    """Stands in for the dead-letter writer: every write is acknowledged at once."""

    def __init__(self) -> None:
        self.written: list[DeadLetter] = []

    async def write(self, record: DeadLetter) -> None:
        self.written.append(record)


def route_config(name: str, topics: list[str], **options: Any) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": name,
            "topics": topics,
            "template": {"id": "{{ value.id }}", "key": "{{ key }}"},
            "endpoint": {"url": f"https://hooks.example.test/{name}"},
            "retry": {"max_attempts": 1, "initial_backoff": 0.001, "jitter": 0},
            **options,
        }
    )


class Harness:
    def __init__(
        self,
        routes: list[RouteConfig],
        decoders: Decoders | None = None,
        status: int = 200,
        dead_letter_limit: DeadLetterLimit | None = None,
    ) -> None:
        self.sender = Answering(status)
        self.dead = DeadLetters()
        self.tracker = OffsetTracker()
        self.pipeline = Pipeline(
            RouteTable(routes),
            Deliverer(self.sender, 10),
            self.dead,  # type: ignore[arg-type]
            self.tracker,
            decoders=decoders,
            dead_letter_limit=dead_letter_limit,
        )

    def finished(self, topic: str, partition: int = 0) -> int | None:
        """The committable position of a partition (None: nothing finished yet)."""
        return self.tracker.positions(force=True).get((topic, partition))


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"condition not met within {timeout}s")
