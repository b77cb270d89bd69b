"""One consumer-group member for unit tests: the real loop, pipeline, scheduler, tracker
and committer around the in-memory Kafka of ``fakekafka`` and a scripted HTTP receiver.
No broker, no sockets: everything runs in the test's event loop and the loop's Kafka
thread, as in the real process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from kafkahooks.config.models import RouteConfig
from kafkahooks.config.sources import DeadLetterLimitConfig
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import RouteTable
from kafkahooks.delivery.sender import Response
from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.engine.dlqlimit import DeadLetterLimit
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.kafka.commits import ProgressStore
from kafkahooks.kafka.consumer import ConsumerLoop, consumer_config
from kafkahooks.kafka.offsets import OffsetTracker
from tests.support.fakekafka import FakeCluster, FakeConsumer

__all__ = ["DeadLetters", "FakeReceiver", "LoopMember", "route", "until"]

Answer = Callable[[OutboundRequest], Awaitable[Response]]


async def _ok(_: OutboundRequest) -> Response:
    return Response(200)


class FakeReceiver:
    """A Sender whose answers the test sets; it records every request."""

    def __init__(self, answer: Answer = _ok) -> None:
        self.answer = answer
        self.requests: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> Response:
        self.requests.append(request)
        return await self.answer(request)

    async def aclose(self) -> None:
        pass

    def for_route(self, name: str) -> list[OutboundRequest]:
        return [r for r in self.requests if r.url.endswith(f"/{name}")]

    def ids(self, name: str | None = None) -> list[int]:
        """Event ids delivered (``value.id``), batches unrolled."""
        out: list[int] = []
        for request in self.requests if name is None else self.for_route(name):
            body = json.loads(request.body or b"null")
            items = [item["data"] for item in body] if isinstance(body, list) else [body]
            out += [int(item["id"]) for item in items]
        return out


class DeadLetters:
    """A dead-letter writer whose writes are acknowledged at once."""

    def __init__(self) -> None:
        self.records: list[DeadLetter] = []

    async def write(self, record: DeadLetter) -> None:
        self.records.append(record)

    def close(self, timeout: float = 10.0) -> None:
        pass


def route(name: str, topics: list[str], **overrides: Any) -> RouteConfig:
    doc: dict[str, Any] = {
        "name": name,
        "topics": topics,
        "template": {"id": "{{ value.id }}", "key": "{{ key }}"},
        "endpoint": {"url": f"https://hooks.example.com/{name}", "timeout": 5},
        "signing": {"secret": "unit-secret"},
        "retry": {"max_attempts": 3, "initial_backoff": 0.01, "max_backoff": 0.02, "jitter": 0},
    }
    doc.update(overrides)
    return RouteConfig.model_validate(doc)


class LoopMember:
    def __init__(
        self,
        cluster: FakeCluster,
        routes: list[RouteConfig],
        receiver: FakeReceiver,
        *,
        window: int = 100,
        batch: int = 50,
        drain_timeout: float = 2.0,
        commit_interval: float = 0.05,
        commit_every: int = 1000,
        dead_letter_limit: DeadLetterLimitConfig | None = None,
        group: str = "unit",
        sparse: frozenset[str] = frozenset(),
        held_max: int | None = None,
        progress: ProgressStore | None = None,
    ) -> None:
        self.cluster = cluster
        self.receiver = receiver
        self.dead_letters = DeadLetters()
        self.tracker = OffsetTracker()
        self.tracker.set_sparse(sparse)
        self.deliverer = Deliverer(receiver, max_in_flight=100)
        self.pipeline = Pipeline(
            RouteTable(routes),
            self.deliverer,
            self.dead_letters,  # type: ignore[arg-type]
            self.tracker,
            dead_letter_limit=DeadLetterLimit(dead_letter_limit),
        )
        self.loop = ConsumerLoop(
            consumer_config("fake:9092", group, {}),
            self.pipeline.topics,
            self.pipeline,
            self.tracker,
            batch=batch,
            window=window,
            drain_timeout=drain_timeout,
            commit_interval=commit_interval,
            commit_every=commit_every,
            consumer_factory=cluster.factory(),
            held_max=held_max,
            progress=progress,
        )
        self.consumer: FakeConsumer = cluster.consumers[-1]
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopMember:
        self._task = asyncio.create_task(self.loop.run())
        await until(lambda: self.loop.joined)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        self.loop.stop()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.wait_for(task, 30)


async def until(condition: Callable[[], object], timeout: float = 10, step: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
