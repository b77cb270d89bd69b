"""Failed attempts you can see: the escaped excerpt, the rate-limited log line, the
delivery-log error of a 5xx, and the excerpt a failed report carries to its dead letter."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from kafkahooks.config.models import RouteConfig
from kafkahooks.delivery import FailedAttempts, endpoint_of, response_excerpt
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import RetryableDeliveryError
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import Route, compile_route
from kafkahooks.delivery.sender import Response
from kafkahooks.engine.deadletter import dead_letter
from kafkahooks.event import Event


def _route(url: str = "https://hooks.example.test:8443/in/abc?token=s3cret") -> Route:
    return compile_route(
        RouteConfig.model_validate(
            {
                "name": "calls",
                "topics": ["t"],
                "template": {"id": "{{ value.id }}"},
                "endpoint": {"url": url, "timeout": 5},
                "retry": {"max_attempts": 3, "initial_backoff": 0.001, "jitter": 0},
            }
        ),
        allow_local=True,
    )


def test_an_excerpt_is_short_and_escapes_control_characters() -> None:
    assert response_excerpt(b"ok") == "ok"
    assert response_excerpt(b"a\nb\r\x1b[0m\x00\xe2\x80\xa8") == "a\\nb\\r\\x1b[0m\\x00\\u2028"
    assert response_excerpt("é".encode() * 300) == "é" * 256
    assert response_excerpt(b"\xff bad") == "\ufffd bad"


MASKED = "https://hooks.example.test:8443/********/********"


def test_the_endpoint_has_no_query_and_no_secret() -> None:
    # not read from a routes file: which path segment came from a ${VAR} is unknown, so all
    # are masked (a routes-file URL shows its literal segments: tests/integration)
    assert endpoint_of(_route()) == MASKED


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failed_attempts_log_at_most_one_line_per_endpoint_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, route = Clock(), _route()
    other = _route("https://other.example.test/x")
    failures = FailedAttempts(every=5.0, clock=clock)
    error = RetryableDeliveryError("HTTP 503", 503)
    with caplog.at_level(logging.WARNING, "kafkahooks.deliverer"):
        for attempt in (1, 2, 3):
            failures.failed(route, attempt, 503, 0.012, error)
        failures.failed(other, 1, None, 5.0, RetryableDeliveryError("ConnectError: no response"))
        clock.now += 5.0
        failures.failed(route, 1, 503, 0.02, error)
    lines = [(r.getMessage(), r.__dict__) for r in caplog.records]
    assert [m for m, _ in lines] == [
        "delivery attempt 1 of 3 failed: HTTP 503",
        "delivery attempt 1 of 3 failed: no response",
        "delivery attempt 1 of 3 failed: HTTP 503",
    ]
    first, _, again = (d for _, d in lines)
    assert first["endpoint"] == "https://hooks.example.test:8443"
    assert (first["status"], first["latency_ms"], first["suppressed"]) == (503, 12.0, 0)
    assert first["error_class"] == "RetryableDeliveryError" and first["route"] == "calls"
    assert again["suppressed"] == 2  # the two held back are counted
    assert "s3cret" not in repr(lines)


class Answers:
    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)

    async def send(self, request: OutboundRequest) -> Response:
        return self.answers.pop(0)

    async def aclose(self) -> None:
        pass


class Log:
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []

    def record(
        self, *args: Any, endpoint_id: str | None = None, event_type: str | None = None
    ) -> None:
        self.records.append(args)


def _deliver(*answers: Response) -> tuple[Any, Log]:
    route, log = _route(), Log()
    deliverer = Deliverer(Answers(*answers), 10, log)  # type: ignore[arg-type]
    event = Event(topic="t", partition=0, offset=7, timestamp=0, key=b"k", raw_value=b"{}")
    event.value = {"id": 1}
    ctx = route.context(event, None)
    return asyncio.run(deliverer.deliver(route, ctx)), log


def test_every_failed_attempt_is_recorded_with_its_error_and_excerpt() -> None:
    report, log = _deliver(
        Response(503, body=b"busy\n"), Response(502, body=b"bad gateway"), Response(200)
    )
    assert report.delivered and report.excerpt is None
    errors = [(r[2], r[3], r[5], r[6] if len(r) > 6 else None) for r in log.records]
    assert errors == [
        (1, 503, "HTTP 503", "busy\\n"),
        (2, 502, "HTTP 502", "bad gateway"),
        (3, 200, None, None),
    ]


def test_a_failed_report_carries_the_last_answer_into_its_dead_letter() -> None:
    report, _ = _deliver(*(Response(503, body=b"down \x07") for _ in range(3)))
    assert report.attempts == 3 and report.excerpt == "down \\x07"
    assert report.error is not None
    route = _route()
    event = Event(topic="t", partition=0, offset=7, timestamp=0, key=b"k", raw_value=b"{}")
    headers = dict(dead_letter(event, report.error, route, report=report).headers())
    assert headers["kafkahooks.http.response_excerpt"] == b"down \\x07"
    assert headers["kafkahooks.endpoint"] == MASKED.encode()
