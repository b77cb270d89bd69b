"""What one event or one receiver can make an attempt raise never leaves the deliverer.

Issue 11, section 2: a forwarded header holding a line feed, a lone surrogate in a
templated header or in an OAuth2 token, any unexpected exception: each ends as this
event's (or batch's) report, dead-lettered with a clear reason, for per-event and
batch routes alike.  The requests go through the real HTTP/1.1 client to a loopback
receiver, as in production.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kafkahooks.config.models import RouteConfig
from kafkahooks.config.sources import DeadLetterLimitConfig
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import InternalError, PermanentDeliveryError
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable, compile_route
from kafkahooks.delivery.sender import Response
from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.engine.dlqlimit import DeadLetterLimit, DeadLetterLimitExceeded
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.event import Event
from kafkahooks.kafka.offsets import OffsetTracker
from kafkahooks.telemetry.metrics import METRICS
from kafkahooks.templating.templates import RenderContext
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.close()


def _route(url: str, batch: bool = False, name: str = "calls", **endpoint: Any) -> Route:
    return compile_route(
        RouteConfig.model_validate(
            {
                "name": name,
                "topics": ["t"],
                "template": {"id": "{{ value.id }}"},
                "endpoint": {"url": url, "timeout": 5, **endpoint},
                "signing": {"secret": "s3cret"},
                "retry": {"max_attempts": 2, "initial_backoff": 0.01, "jitter": 0},
                **({"batch": {"max_events": 10, "max_wait_ms": 10}} if batch else {}),
            }
        ),
        allow_local=True,
    )


def _ctx(route: Route, offset: int, value: Any, headers: Any = ()) -> RenderContext:
    event = Event("t", 0, offset, 0, b"k", b"{}", value=value, headers=list(headers))
    return route.context(event, None)


def _deliver(route: Route, ctxs: list[RenderContext]) -> DeliveryReport:
    async def go() -> DeliveryReport:
        sender = Http1Sender(max_connections=4)
        try:
            deliverer = Deliverer(sender, 10)
            if route.config.batch is not None:
                return await deliverer.deliver_batch(route, ctxs)
            return await deliverer.deliver(route, ctxs[0])
        finally:
            await sender.aclose()

    return asyncio.run(go())


def test_a_batch_whose_forwarded_header_holds_a_line_feed_is_dead_lettered(
    receiver: Receiver,
) -> None:
    route = _route(
        receiver.url, batch=True, forward_headers={"source": "headers", "allow": ["x-note"]}
    )
    ctxs = [
        _ctx(route, 0, {"id": 1}, [("x-note", b"first\nx-injected: 1")]),
        _ctx(route, 1, {"id": 2}),
    ]
    report = _deliver(route, ctxs)
    assert type(report.error) is PermanentDeliveryError
    assert report.error.reason == "template: header x-note: value has a control character"
    assert report.attempts == 0
    assert receiver.requests == []


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batch"])
def test_a_lone_surrogate_in_a_templated_header_is_a_template_error(
    receiver: Receiver, batch: bool
) -> None:
    route = _route(receiver.url, batch=batch, dynamic_headers={"x-who": "{{ value.who }}"})
    report = _deliver(route, [_ctx(route, 0, {"id": 1, "who": "Zo\udce9"})])
    assert type(report.error) is PermanentDeliveryError
    assert report.error.reason == "template: header x-who: value has a lone surrogate"
    assert receiver.requests == []


class _Tokens(Receiver):
    """A token endpoint issuing the given token."""

    def __init__(self, token: str) -> None:
        body = json.dumps({"access_token": token, "expires_in": 3600}).encode()
        super().__init__(lambda _: Reply(200, body=body))


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batch"])
def test_a_lone_surrogate_in_an_oauth2_token_is_a_permanent_error(
    receiver: Receiver, batch: bool
) -> None:
    tokens = _Tokens("tok-\ud800")
    try:
        route = _route(
            receiver.url,
            batch=batch,
            auth={
                "type": "oauth2",
                "token_url": tokens.url,
                "client_id": "c",
                "client_secret": "oauth-secret-1",
            },
        )
        report = _deliver(route, [_ctx(route, 0, {"id": 1})])
    finally:
        tokens.close()
    assert type(report.error) is PermanentDeliveryError
    assert report.error.reason == (
        "oauth2 token response: access_token is not 1 to 8192 printable ASCII characters"
    )
    assert receiver.requests == []


class Exploding:
    """A sender with a bug."""

    async def send(self, request: OutboundRequest) -> Response:
        raise ZeroDivisionError("a message that might hold event data")

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batch"])
def test_an_unexpected_exception_is_an_internal_error_counted_in_a_metric(batch: bool) -> None:
    route = _route("https://hooks.example.test/x", batch=batch)
    counter = METRICS.internal_errors.labels("calls")
    before = counter._value.get()
    deliverer = Deliverer(Exploding(), 10)
    ctx = _ctx(route, 0, {"id": 1})
    run = deliverer.deliver_batch(route, [ctx]) if batch else deliverer.deliver(route, ctx)
    report = asyncio.run(run)
    assert isinstance(report.error, InternalError)
    assert report.error.reason == "internal error: ZeroDivisionError"
    assert report.attempts == 1
    assert counter._value.get() == before + 1


def test_an_oauth2_token_fetch_holds_no_slot_while_it_waits(receiver: Receiver) -> None:
    """With one in-flight slot, a route waiting for a slow token endpoint does not keep
    another route from delivering (on cd82bdc the fetch ran inside the slot)."""
    slow_tokens = Receiver(lambda _: Reply(200, body=b'{"access_token":"t"}', delay=1.0))
    finished: list[str] = []
    try:
        oauth = _route(
            receiver.url,
            name="oauth",
            auth={
                "type": "oauth2",
                "token_url": slow_tokens.url,
                "client_id": "c",
                "client_secret": "x",
            },
        )
        plain = _route(receiver.url, name="plain")

        async def go() -> None:
            sender = Http1Sender(max_connections=4)
            deliverer = Deliverer(sender, max_in_flight=1)

            async def one(route: Route) -> None:
                report = await deliverer.deliver(route, _ctx(route, 0, {"id": 1}))
                assert report.delivered, report.error
                finished.append(route.name)

            waiting = asyncio.create_task(one(oauth))
            await asyncio.to_thread(slow_tokens.wait_count, 1)  # the token request is out
            await one(plain)
            await waiting
            await sender.aclose()

        asyncio.run(go())
    finally:
        slow_tokens.close()
    assert finished == ["plain", "oauth"]


class Written:
    """Stands in for the dead-letter writer: acknowledges every record at once."""

    def __init__(self) -> None:
        self.records: list[DeadLetter] = []

    async def write(self, record: DeadLetter) -> None:
        self.records.append(record)


def test_a_bug_that_hits_every_event_still_stops_the_bridge_by_the_dead_letter_limit() -> None:
    config = RouteConfig.model_validate(
        {
            "name": "calls",
            "topics": ["t"],
            "template": {"id": "{{ value.id }}"},
            "endpoint": {"url": "https://hooks.example.test/x"},
        }
    )
    written = Written()

    async def go() -> BaseException | None:
        tracker = OffsetTracker()
        tracker.assign([("t", 0)])
        pipeline = Pipeline(
            RouteTable([config]),
            Deliverer(Exploding(), 10),
            written,  # type: ignore[arg-type]
            tracker,
            dead_letter_limit=DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=3)),
        )
        for offset in range(6):
            pipeline.accept(Event("t", 0, offset, 0, b"k", b'{"id": 1}', value={"id": 1}))
        for _ in range(200):
            if pipeline.fatal is not None:
                break
            await asyncio.sleep(0.01)
        await pipeline.scheduler.cancel([("t", 0)])
        return pipeline.fatal

    fatal = asyncio.run(go())
    assert isinstance(fatal, DeadLetterLimitExceeded)
    assert [r.error_class for r in written.records] == ["InternalError"] * 3
    assert {r.error_message for r in written.records} == {"internal error: ZeroDivisionError"}
