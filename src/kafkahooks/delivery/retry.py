"""Deliver one event to one route: attempts, backoff, ``Retry-After``.

tenacity drives the loop; the only things it looks at are the two branches
of the error tree.  A fresh timestamp (and signature) is made per attempt;
the event id never changes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from kafkahooks.config.models import RetryConfig
from kafkahooks.delivery.errors import (
    DeliveryError,
    RetryableDeliveryError,
    classify_status,
)
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response

__all__ = ["Attempt", "DeliveryReport", "backoff_wait", "deliver_with_retries"]


@dataclass(slots=True)
class DeliveryReport:
    attempts: int
    status: int | None
    error: DeliveryError | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


class backoff_wait:
    """Exponential backoff with additive jitter; ``Retry-After`` wins up to a cap."""

    def __init__(self, policy: RetryConfig) -> None:
        self.policy = policy

    def __call__(self, state: RetryCallState) -> float:
        p = self.policy
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableDeliveryError) and exc.retry_after is not None:
            return min(exc.retry_after, p.retry_after_cap)
        base = p.initial_backoff * p.multiplier ** (state.attempt_number - 1)
        return min(base, p.max_backoff) + random.uniform(0, p.jitter)


Attempt = Callable[[int], Awaitable[tuple[OutboundRequest, Response]]]


async def deliver_with_retries(
    attempt: Attempt,
    policy: RetryConfig,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DeliveryReport:
    """Run ``attempt(n)`` until success, a permanent error or the last attempt."""
    last_status: int | None = None
    number = 0
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=backoff_wait(policy),
        retry=retry_if_exception_type(RetryableDeliveryError),
        sleep=sleep,
        reraise=True,
    )
    try:
        async for state in retrying:
            with state:
                number = state.retry_state.attempt_number
                _, response = await attempt(number)
                last_status = response.status
                error = classify_status(response.status, response.retry_after)
                if error is not None:
                    raise error
    except DeliveryError as exc:
        return DeliveryReport(attempts=number, status=exc.status or last_status, error=exc)
    return DeliveryReport(attempts=number, status=last_status)
