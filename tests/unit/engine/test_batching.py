"""Batcher (N events or T ms per route and partition) and batch requests (fake sender)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

from kafkahooks.config.models import RouteConfig
from kafkahooks.delivery.deliverer import Deliverer, batch_id
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import Route, compile_route
from kafkahooks.delivery.sender import Response
from kafkahooks.engine.batching import Batcher
from kafkahooks.event import Event
from kafkahooks.kafka.offsets import TopicPartitionKey
from kafkahooks.templating.templates import RenderContext

SECRET = "batch-secret"
Flushed = list[tuple[TopicPartitionKey, str, list[int]]]


def route(name: str = "r", max_events: int = 3, max_wait_ms: int = 20) -> Route:
    return compile_route(RouteConfig.model_validate({
        "name": name, "topics": ["t"],
        "template": {"id": "{{ value.id }}", "key": "{{ key }}"},
        "endpoint": {"url": "https://hooks.example.com/batch"},
        "signing": {"secret": SECRET},
        "retry": {"max_attempts": 3, "initial_backoff": 0.001, "jitter": 0},
        "batch": {"max_events": max_events, "max_wait_ms": max_wait_ms},
    }))


def ctx(r: Route, offset: int, partition: int = 0) -> RenderContext:
    event = Event("t", partition, offset, 0, b"k", b"{}", value={"id": offset})
    return r.context(event, None)


def collector() -> tuple[Batcher, Flushed]:
    flushed: Flushed = []
    batcher = Batcher(lambda tp, r, ctxs: flushed.append(
        (tp, r.name, [c.event.offset for c in ctxs])))
    return batcher, flushed


async def until(condition: Any, timeout: float = 2) -> None:
    step = 0.005
    for _ in range(int(timeout / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


def test_a_batch_goes_as_soon_as_it_holds_max_events() -> None:
    async def scenario() -> Flushed:
        batcher, flushed = collector()
        r = route(max_events=3, max_wait_ms=60_000)
        for offset in range(7):
            batcher.add(("t", 0), r, ctx(r, offset))
        return flushed

    assert asyncio.run(scenario()) == [(("t", 0), "r", [0, 1, 2]), (("t", 0), "r", [3, 4, 5])]


def test_a_partial_batch_goes_after_max_wait_ms() -> None:
    async def scenario() -> Flushed:
        batcher, flushed = collector()
        r = route(max_events=10, max_wait_ms=20)
        batcher.add(("t", 0), r, ctx(r, 0))
        batcher.add(("t", 0), r, ctx(r, 1))
        assert flushed == []
        await until(lambda: flushed)
        batcher.add(("t", 0), r, ctx(r, 2))  # a new batch, with its own timer
        await until(lambda: len(flushed) == 2)
        return flushed

    assert [offsets for *_, offsets in asyncio.run(scenario())] == [[0, 1], [2]]


def test_a_full_batch_cancels_its_timer() -> None:
    async def scenario() -> Flushed:
        batcher, flushed = collector()
        r = route(max_events=2, max_wait_ms=50)
        batcher.add(("t", 0), r, ctx(r, 0))
        [first_timer] = batcher._timers.values()  # the open batch's timer
        for offset in (1, 2):
            batcher.add(("t", 0), r, ctx(r, offset))
        # read the handle, not the clock: a loaded machine makes any sleep late
        assert first_timer.cancelled() and len(flushed) == 1  # [2] is still open
        await until(lambda: len(flushed) == 2)
        return flushed

    assert [offsets for *_, offsets in asyncio.run(scenario())] == [[0, 1], [2]]


def test_batches_are_kept_per_route_and_partition() -> None:
    async def scenario() -> Flushed:
        batcher, flushed = collector()
        a, b = route("a", max_events=2, max_wait_ms=60_000), route("b", 2, 60_000)
        batcher.add(("t", 0), a, ctx(a, 0))
        batcher.add(("t", 1), a, ctx(a, 0, partition=1))
        batcher.add(("t", 0), b, ctx(b, 0))
        assert flushed == []
        batcher.add(("t", 0), a, ctx(a, 1))
        return flushed

    assert asyncio.run(scenario()) == [(("t", 0), "a", [0, 1])]


def test_flush_emits_the_open_batches_of_the_given_partitions_only() -> None:
    async def scenario() -> Flushed:
        batcher, flushed = collector()
        r = route(max_events=10, max_wait_ms=40)
        batcher.add(("t", 0), r, ctx(r, 0))
        batcher.add(("t", 1), r, ctx(r, 5, partition=1))
        batcher.flush([("t", 0)])  # partition 0 is being revoked
        assert flushed == [(("t", 0), "r", [0])]
        await until(lambda: len(flushed) == 2)  # partition 1 still goes on its timer
        await asyncio.sleep(0.06)
        return flushed  # and partition 0's cancelled timer sent nothing more

    assert asyncio.run(scenario()) == [(("t", 0), "r", [0]), (("t", 1), "r", [5])]


# -- the batch request ----------------------------------------------------------

class Scripted:
    """Answers the given statuses in turn, remembering what was sent."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> Response:
        self.sent.append(request)
        return Response(self.statuses.pop(0))

    async def aclose(self) -> None:
        pass


def test_a_batch_is_one_signed_array_with_a_stable_id_of_its_own() -> None:
    r = route()
    ctxs = [ctx(r, offset) for offset in range(3)]
    sender = Scripted(503, 200)
    report = asyncio.run(Deliverer(sender, 10).deliver_batch(r, ctxs))

    assert report.delivered and report.attempts == 2
    first, retry = sender.sent
    assert json.loads(first.body) == [
        {"id": c.event_id, "data": {"id": c.event.offset, "key": "k"}} for c in ctxs
    ]
    assert first.headers["webhook-batch-size"] == "3"
    assert first.headers["webhook-id"] == batch_id([c.event_id for c in ctxs])
    assert first.headers["webhook-id"].startswith("bat_")
    expected = hmac.new(SECRET.encode(), first.body, hashlib.sha256).hexdigest()
    assert first.headers["x-signature"] == expected
    assert (retry.body, retry.headers["webhook-id"]) == (first.body, first.headers["webhook-id"])


def test_a_rejected_batch_fails_as_a_unit_without_retrying() -> None:
    r = route()
    sender = Scripted(400)
    report = asyncio.run(Deliverer(sender, 10).deliver_batch(r, [ctx(r, 0), ctx(r, 1)]))
    assert not report.delivered
    assert (report.attempts, report.status, len(sender.sent)) == (1, 400, 1)


def test_batch_ids_depend_on_the_elements_and_their_order() -> None:
    assert batch_id(["evt_a", "evt_b"]) == batch_id(["evt_a", "evt_b"])
    assert batch_id(["evt_a", "evt_b"]) != batch_id(["evt_b", "evt_a"])
    assert batch_id(["evt_a"]) != batch_id(["evt_a", "evt_b"])
