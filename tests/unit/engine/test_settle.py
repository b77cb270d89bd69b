"""Settle: the one decision of an event's outcome, and halting when it cannot be recorded."""

from __future__ import annotations

import asyncio

import pytest

from kafkahooks.config import ConfigError
from kafkahooks.config.sources import DeadLetterLimitConfig
from kafkahooks.decode import DecodeError, RegistryUnavailableError
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import (
    DeadLetterWriteError,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable
from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.engine.dlqlimit import DeadLetterLimit, DeadLetterLimitExceeded
from kafkahooks.engine.halt import Halt
from kafkahooks.engine.parking import ParkedRecordError
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.engine.settle import Outcome, outcome
from kafkahooks.errors import HaltError, KafkahooksError
from kafkahooks.event import Event
from kafkahooks.kafka.offsets import OffsetTracker
from tests.support.pipelines import Answering, route_config, until


def _route(**options: object) -> Route:
    return RouteTable([route_config("calls", ["t"], **options)]).routes[0]


RETRYING = {"retry_topics": {"delays": [1, 60]}}
SOON = RetryableDeliveryError("HTTP 503", 503)


@pytest.mark.parametrize(
    ("options", "error", "tier", "size", "parks", "expected"),
    [
        ({}, None, 0, 1, True, Outcome.DELIVERED),
        ({}, None, 0, 50, False, Outcome.DELIVERED),
        (RETRYING, SOON, 0, 1, True, Outcome.PARKED),
        (RETRYING, SOON, 1, 1, True, Outcome.PARKED),
        (RETRYING, SOON, 2, 1, True, Outcome.DEAD_LETTERED),  # no tier left
        (RETRYING, SOON, 0, 1, False, Outcome.DEAD_LETTERED),  # no producer to park with
        (RETRYING, PermanentDeliveryError("HTTP 400", 400), 0, 1, True, Outcome.DEAD_LETTERED),
        ({}, SOON, 0, 1, True, Outcome.DEAD_LETTERED),  # no retry topics
    ],
)
def test_one_function_decides_what_a_delivery_report_comes_to(
    options: dict[str, object],
    error: DeliveryError | None,
    tier: int,
    size: int,
    parks: bool,
    expected: Outcome,
) -> None:
    report = DeliveryReport(attempts=3, status=error.status if error else 200, error=error)
    assert outcome(_route(**options), report, tier, size, parks) is expected


def test_the_three_conditions_that_stop_the_bridge_share_one_base() -> None:
    for halting in (RegistryUnavailableError, DeadLetterWriteError, DeadLetterLimitExceeded):
        assert issubclass(halting, HaltError)
        assert issubclass(halting, KafkahooksError)
    for outcome_error in (DeliveryError, DecodeError, ParkedRecordError, ConfigError):
        assert issubclass(outcome_error, KafkahooksError)
        assert not issubclass(outcome_error, HaltError)
    assert issubclass(DecodeError, ValueError)  # still caught as before


def test_the_first_cause_stops_the_bridge_and_later_ones_do_not_replace_it() -> None:
    halt = Halt()
    first = DeadLetterWriteError("dead-letter write failed")
    halt.stop(first)
    halt.unexpected(ZeroDivisionError())
    assert halt.cause is first


class _Refusing:
    """A dead-letter writer whose broker never acknowledges."""

    def __init__(self) -> None:
        self.tried: list[DeadLetter] = []

    async def write(self, record: DeadLetter) -> None:
        self.tried.append(record)
        raise DeadLetterWriteError(f"dead-letter write to {record.topic!r} failed: timed out")


def _halting(limit: DeadLetterLimit | None = None) -> tuple[Pipeline, Answering, _Refusing]:
    sender = Answering(400)  # every delivery fails for good: dead-lettered
    writer = _Refusing()
    tracker = OffsetTracker()
    tracker.assign([("t", 0)])
    pipeline = Pipeline(
        RouteTable([route_config("calls", ["t"])]),
        Deliverer(sender, 10),
        writer,  # type: ignore[arg-type]
        tracker,
        dead_letter_limit=limit,
    )
    return pipeline, sender, writer


def test_a_dead_letter_the_broker_does_not_take_halts_and_holds_its_lane() -> None:
    async def scenario() -> tuple[BaseException | None, int, int]:
        pipeline, sender, _ = _halting()
        for offset in range(3):  # one key: one lane, in offset order
            pipeline.accept(Event("t", 0, offset, 0, b"k", b'{"id": 1}'))
        await until(lambda: pipeline.fatal is not None)
        await asyncio.sleep(0.1)  # the lane would have moved on by now
        held = pipeline.scheduler.busy()
        await pipeline.drain([("t", 0)], 0)
        assert pipeline.tracker.positions(force=True).get(("t", 0)) is None  # nothing passed
        return pipeline.fatal, len(sender.sent), held

    fatal, sent, held = asyncio.run(scenario())
    assert isinstance(fatal, DeadLetterWriteError)
    assert sent == 1  # the events behind it in its key's lane were not sent
    assert held == 1  # the halted job holds the lane until the drain cancels it


def test_a_dead_letter_past_the_limit_halts_before_it_is_written() -> None:
    limit = DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=0))

    async def scenario() -> tuple[BaseException | None, int]:
        pipeline, _, writer = _halting(limit)
        pipeline.accept(Event("t", 0, 0, 0, b"k", b'{"id": 1}'))
        await until(lambda: pipeline.fatal is not None)
        await pipeline.drain([("t", 0)], 0)
        return pipeline.fatal, len(writer.tried)

    fatal, tried = asyncio.run(scenario())
    assert isinstance(fatal, DeadLetterLimitExceeded)
    assert tried == 0
