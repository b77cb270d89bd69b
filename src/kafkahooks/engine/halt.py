"""The one place that stops the bridge.

Every step that cannot go on without skipping an event reports it here: the
three :class:`~kafkahooks.errors.HaltError` conditions (the schema registry
cannot be asked, the broker did not take a dead letter or a parked event, the
dead-letter limit refused one) and a delivery job that raised (a bug).

Stopping means, in this order:

1. ``cause`` is set (the first one wins) and logged once;
2. the event concerned stays unfinished, so no commit passes it; a job that
   halts holds its lane (``hold``) until shutdown cancels it, so no later event
   of that lane is sent either;
3. the consumer loop sees ``cause`` (as ``Pipeline.fatal``) before its next
   poll, takes nothing more, drains with no time and commits what finished;
4. ``app/bridge.py`` turns the cause into exit status 1 and its text.

Nothing else stops the bridge except a signal or a fatal consumer error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

__all__ = ["Halt"]

log = logging.getLogger("kafkahooks.pipeline")


class Halt:
    """Why this member stopped (``cause``), and the calls that stop it."""

    def __init__(self) -> None:
        self.cause: BaseException | None = None

    def stop(self, exc: BaseException) -> None:
        """Stop: the caller leaves its event unfinished and returns."""
        if self.cause is None:
            self.cause = exc
            log.error("stopping", extra={"error": str(exc)})

    async def hold(self, exc: BaseException) -> NoReturn:
        """Stop, and hold the caller's lane until shutdown cancels it."""
        self.stop(exc)
        await asyncio.Event().wait()
        raise AssertionError("unreachable: the wait ends only by cancellation")

    def unexpected(self, exc: BaseException) -> None:
        """A job raised (a bug, never an outcome): the scheduler's ``on_error``."""
        log.error("delivery job failed unexpectedly; stopping", exc_info=exc)
        self.stop(exc)
