"""Outcome classification, backoff, and the retry loop (fake attempts, no real sleeping)."""

from __future__ import annotations

import asyncio
import email.utils

import pytest
from tenacity import RetryCallState, Retrying

from kafkahooks.config import RetryConfig
from kafkahooks.delivery.errors import (
    InternalError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    classify_status,
    classify_transport_error,
    parse_retry_after,
)
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.retry import DeliveryReport, backoff_wait, deliver_with_retries
from kafkahooks.delivery.sender import Response


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_success(status: int) -> None:
    assert classify_status(status) is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retryable(status: int) -> None:
    error = classify_status(status)
    assert isinstance(error, RetryableDeliveryError)
    assert error.status == status


@pytest.mark.parametrize("status", [301, 302, 307, 400, 401, 403, 404, 410, 422])
def test_3xx_and_other_4xx_are_permanent(status: int) -> None:
    error = classify_status(status)
    assert isinstance(error, PermanentDeliveryError)
    assert error.status == status


def test_redirects_say_they_are_not_followed() -> None:
    assert "redirects are not followed" in str(classify_status(302))


def test_retry_after_seconds_is_carried_on_the_error() -> None:
    error = classify_status(429, "7")
    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after == 7.0
    error = classify_status(503, None)
    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after is None


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(120.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_transport_errors_are_retryable_and_do_not_leak_details() -> None:
    error = classify_transport_error(ConnectionRefusedError("http://user:pw@host/x"))
    assert isinstance(error, RetryableDeliveryError)
    assert "pw" not in str(error)
    assert error.status is None


def _state(attempt: int, exc: BaseException) -> RetryCallState:
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_backoff_grows_exponentially_and_is_capped() -> None:
    wait = backoff_wait(RetryConfig(initial_backoff=0.5, multiplier=2, max_backoff=3, jitter=0))
    waits = [wait(_state(n, RetryableDeliveryError("HTTP 503", 503))) for n in range(1, 6)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_jitter_stays_within_bounds() -> None:
    wait = backoff_wait(RetryConfig(initial_backoff=1, max_backoff=1, jitter=0.25))
    for _ in range(50):
        assert 1.0 <= wait(_state(3, RetryableDeliveryError("x"))) <= 1.25


def test_retry_after_wins_up_to_its_cap() -> None:
    wait = backoff_wait(RetryConfig(initial_backoff=0.5, jitter=0, retry_after_cap=60))
    assert wait(_state(1, RetryableDeliveryError("429", 429, retry_after=12))) == 12
    assert wait(_state(1, RetryableDeliveryError("429", 429, retry_after=3600))) == 60


class FakeEndpoint:
    """Answers attempts from a script of statuses; records attempt numbers and sleeps."""

    def __init__(self, *answers: int | tuple[int, str] | BaseException) -> None:
        self.answers = list(answers)
        self.attempts: list[int] = []
        self.sleeps: list[float] = []

    async def attempt(self, number: int) -> tuple[OutboundRequest, Response]:
        self.attempts.append(number)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
        request = OutboundRequest("POST", "http://127.0.0.1:9/", {}, b"{}", 1.0)
        return request, Response(status, retry_after)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def run(self, policy: RetryConfig) -> DeliveryReport:
        return asyncio.run(deliver_with_retries(self.attempt, policy, sleep=self.sleep))


POLICY = RetryConfig(max_attempts=4, initial_backoff=1, multiplier=2, max_backoff=10, jitter=0)


def test_first_success_is_one_attempt() -> None:
    endpoint = FakeEndpoint(200)
    report = endpoint.run(POLICY)
    assert report.delivered and report.attempts == 1 and report.status == 200
    assert endpoint.sleeps == []


def test_retryable_failures_are_retried_until_success() -> None:
    endpoint = FakeEndpoint(503, RetryableDeliveryError("ConnectError: no response"), 200)
    report = endpoint.run(POLICY)
    assert report.delivered
    assert report.attempts == 3
    assert report.status == 200
    assert endpoint.attempts == [1, 2, 3]
    assert endpoint.sleeps == [1, 2]


def test_retry_after_sets_the_wait() -> None:
    endpoint = FakeEndpoint((429, "5"), 204)
    assert endpoint.run(POLICY).delivered
    assert endpoint.sleeps == [5.0]


def test_permanent_failure_stops_at_once() -> None:
    endpoint = FakeEndpoint(503, 404, 200)
    report = endpoint.run(POLICY)
    assert not report.delivered
    assert isinstance(report.error, PermanentDeliveryError)
    assert report.attempts == 2
    assert report.status == 404
    assert endpoint.answers == [200]  # never asked again


def test_gives_up_after_max_attempts_with_the_last_status() -> None:
    endpoint = FakeEndpoint(500, 502, 503, 500, 200)
    report = endpoint.run(POLICY)
    assert not report.delivered
    assert isinstance(report.error, RetryableDeliveryError)
    assert report.attempts == 4
    assert report.status == 500
    assert endpoint.sleeps == [1, 2, 4]


def test_connection_errors_only_report_no_status() -> None:
    failure = RetryableDeliveryError("ConnectError: no response")
    endpoint = FakeEndpoint(failure, failure)
    report = endpoint.run(RetryConfig(max_attempts=2, jitter=0))
    assert not report.delivered
    assert report.attempts == 2
    assert report.status is None


# -- a receiver's Retry-After, and what an attempt may raise (issue 11, section 2) ----------

FAR_FUTURE = "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"  # a 20-digit year


@pytest.mark.parametrize(
    "value",
    [
        FAR_FUTURE,
        "Wed, 21 Oct 10000 07:28:00 GMT",  # one year past what datetime holds
        "9" * 400,  # more digits than a float holds
    ],
)
def test_retry_after_beyond_any_date_or_float_is_infinite_and_never_raises(value: str) -> None:
    assert parse_retry_after(value) == float("inf")


@pytest.mark.parametrize(
    "value",
    [
        "²",  # str.isdigit() is true, float() refuses it
        "\u0661\u0662",  # Arabic-Indic digits: not ASCII
        "\uff11\uff12",  # full-width digits
        "Wed, 99999999999999999999 Oct 2015 07:28:00 GMT",  # day out of range
        "Wed, 21 Oct 2015 99999999999999999999:28:00 GMT",  # hour out of range
        "Wed, 21 Oct 2015 07:28:00 +9999999999999",  # offset out of range
        "Wed, 21 Oct 2015 07:28:00 GMT\x00",
    ],
)
def test_retry_after_that_is_not_ascii_digits_or_a_date_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_date_without_a_zone_is_utc() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 90)  # "... -0000": UTC, not local time
    assert parse_retry_after(header, now=now) == pytest.approx(90.0)


def test_a_retry_after_date_with_a_20_digit_year_waits_the_cap_then_retries() -> None:
    endpoint = FakeEndpoint((503, FAR_FUTURE), 200)
    report = endpoint.run(RetryConfig(max_attempts=3, retry_after_cap=7, jitter=0))
    assert report.delivered and report.attempts == 2
    assert endpoint.sleeps == [7]


def test_a_superscript_retry_after_is_ignored_and_the_normal_backoff_applies() -> None:
    endpoint = FakeEndpoint((503, "²"), (503, "²"), 200)
    report = endpoint.run(POLICY)
    assert report.delivered and report.attempts == 3
    assert endpoint.sleeps == [1, 2]


def test_an_unexpected_exception_is_a_permanent_internal_error_of_that_delivery() -> None:
    endpoint = FakeEndpoint(503, KeyError("event data, maybe a secret"), 200)
    report = endpoint.run(POLICY)
    assert not report.delivered
    assert isinstance(report.error, InternalError)
    assert report.error.reason == "internal error: KeyError"  # the class, not the message
    assert report.attempts == 2 and report.status == 503
    assert endpoint.answers == [200]  # not retried


def test_cancellation_still_stops_a_delivery() -> None:
    endpoint = FakeEndpoint(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        endpoint.run(POLICY)
