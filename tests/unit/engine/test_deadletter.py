"""Every dead letter is built by one function: where it goes and what it says."""

from __future__ import annotations

from kafkahooks.decode import ValueTooLargeError, WireFormatError
from kafkahooks.delivery.errors import InternalError, RetryableDeliveryError
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable
from kafkahooks.engine.deadletter import dead_letter
from kafkahooks.engine.parking import RouteRemovedError
from kafkahooks.event import Event
from tests.support.pipelines import route_config

EVENT = Event("calls.status", 3, 1207, 1_718_000_000_123, b"call-9", b'{"id": 9}')


def _route(**options: object) -> Route:
    return RouteTable([route_config("calls", ["calls.status"], **options)]).routes[0]


def _own(headers: list[tuple[str, str | bytes | None]]) -> dict[str, str | bytes | None]:
    return {k.removeprefix("kafkahooks."): v for k, v in headers if k.startswith("kafkahooks.")}


def test_a_failed_delivery_goes_to_its_routes_dead_letter_topic_with_the_report() -> None:
    report = DeliveryReport(5, 503, RetryableDeliveryError("HTTP 503", 503))
    assert report.error is not None
    dead = dead_letter(
        EVENT, report.error, _route(dead_letter_topic="calls.dead"), event_id="evt_1", report=report
    )
    assert (dead.topic, dead.route, dead.event_id) == ("calls.dead", "calls", "evt_1")
    assert (dead.error_class, dead.error_message) == ("RetryableDeliveryError", "HTTP 503")
    assert (dead.status, dead.attempts, dead.value) == (503, 5, b'{"id": 9}')


def test_a_bug_is_named_by_its_class_only() -> None:
    error = InternalError(KeyError("secret-looking data"))
    dead = dead_letter(EVENT, error, _route(), report=DeliveryReport(1, None, error))
    assert (dead.error_class, dead.error_message) == ("InternalError", "internal error: KeyError")


def test_a_record_read_before_any_route_goes_to_the_source_topics_dead_letter_topic() -> None:
    dead = dead_letter(EVENT, WireFormatError("not the wire format"), None)
    assert (dead.topic, dead.route, dead.event_id) == ("calls.status.dlq", None, None)
    assert (dead.status, dead.attempts) == (None, 0)
    assert dead.error_message == "not the wire format"
    assert dead.value == b'{"id": 9}'


def test_an_oversize_value_is_left_out_so_the_write_cannot_fail_on_size() -> None:
    dead = dead_letter(EVENT, ValueTooLargeError("value is 9 bytes"), _route())
    assert dead.value is None
    assert _own(dead.headers())["value.omitted"] == b"9"


def test_a_parked_event_whose_route_is_gone_names_it_and_goes_to_the_source_dlq() -> None:
    error = RouteRemovedError("route 'calls' is not configured any more")
    dead = dead_letter(EVENT, error, None, route_name="calls", event_id="evt_9", attempts=4)
    assert (dead.topic, dead.route, dead.event_id, dead.attempts) == (
        "calls.status.dlq",
        "calls",
        "evt_9",
        4,
    )
    assert dead.error_message == "route-removed: route 'calls' is not configured any more"
