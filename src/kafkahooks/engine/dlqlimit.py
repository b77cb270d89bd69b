"""Stop instead of dead-lettering a whole topic (after Sentry arroyo's ``DlqLimit``).

A run of dead letters usually means a bad deploy (a template that no longer
fits, a wrong secret, a schema change), not bad events.  Per partition,
every outcome is recorded (delivered, filtered, dead-lettered); a dead
letter that would make

* more than ``max_consecutive`` dead letters in a row, or
* more than ``max_ratio`` of the last ``window`` outcomes dead letters
  (judged once ``window`` outcomes are known)

is refused with :class:`DeadLetterLimitExceeded`, a
:class:`~kafkahooks.errors.HaltError` like a failed dead-letter write: the event
stays unfinished, so no commit passes it, and the process exits non-zero.

A partition's counts start again when it is assigned again: another member
may have moved it on meanwhile, and the outcomes counted before belong to
that earlier run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import repeat

from kafkahooks.config import DeadLetterLimitConfig
from kafkahooks.errors import HaltError
from kafkahooks.kafka import TopicPartitionKey

__all__ = ["DeadLetterLimit", "DeadLetterLimitExceeded"]


class DeadLetterLimitExceeded(HaltError):
    """Too many dead letters on one partition: consumption stops."""


@dataclass(slots=True)
class _Partition:
    recent: deque[bool]  # the last ``window`` outcomes, True: dead letter
    dead_in_window: int = 0
    consecutive: int = 0


class DeadLetterLimit:
    def __init__(self, config: DeadLetterLimitConfig | None = None) -> None:
        self.config = config if config is not None else DeadLetterLimitConfig(enabled=False)
        self._parts: dict[TopicPartitionKey, _Partition] = {}

    def _state(self, tp: TopicPartitionKey) -> _Partition:
        state = self._parts.get(tp)
        if state is None:
            state = self._parts[tp] = _Partition(deque(maxlen=self.config.window))
        return state

    def reset(self, tps: list[TopicPartitionKey]) -> None:
        """Forget these partitions' outcomes (they were revoked, lost or assigned again)."""
        for tp in tps:
            self._parts.pop(tp, None)

    def _push(self, state: _Partition, dead: bool) -> None:
        if len(state.recent) == self.config.window:  # the oldest falls out on append
            state.dead_in_window -= state.recent[0]
        state.recent.append(dead)
        state.dead_in_window += dead

    def ok(self, tp: TopicPartitionKey, n: int = 1) -> None:
        """``n`` outcomes that were not dead letters."""
        if not self.config.enabled:
            return
        state = self._state(tp)
        state.consecutive = 0
        count = min(n, self.config.window)
        if state.dead_in_window == 0:  # only clean outcomes can fall out: nothing to count
            state.recent.extend(repeat(False, count))
            return
        for _ in range(count):
            self._push(state, False)

    def dead_letter(self, tp: TopicPartitionKey, offset: int) -> None:
        """Record one dead letter, or raise (recording nothing) if it would cross the limit."""
        if not self.config.enabled:
            return
        state = self._state(tp)
        reason = self._crossed(state)
        if reason is not None:
            topic, partition = tp
            raise DeadLetterLimitExceeded(
                f"dead-letter limit exceeded on {topic}/{partition} at offset {offset}: {reason}; "
                "stopping without committing past it (fix the cause, restart, then "
                "`kafkahooks dlq replay` what was dead-lettered)"
            )
        state.consecutive += 1
        self._push(state, True)

    def _crossed(self, state: _Partition) -> str | None:
        c = self.config
        run = state.consecutive + 1
        if c.max_consecutive is not None and run > c.max_consecutive:
            return f"{run} dead letters in a row (max_consecutive {c.max_consecutive})"
        if c.max_ratio is None:
            return None
        full = len(state.recent) + 1 >= c.window
        dead = state.dead_in_window + 1 - (state.recent[0] if len(state.recent) == c.window else 0)
        if full and dead / c.window > c.max_ratio:
            return f"{dead} of the last {c.window} events dead-lettered (max_ratio {c.max_ratio:g})"
        return None
