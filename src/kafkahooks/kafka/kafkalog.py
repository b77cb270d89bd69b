"""librdkafka's own log lines through kafkahooks' logger, and whether Kafka answers at all.

Every librdkafka client kafkahooks makes (consumers, producers, admin, replay,
``deliveries``) carries ``logger: KAFKA_LOGGER`` in its config.  confluent-kafka
then hands each line to that logger instead of writing raw text to stderr, and only
from ``poll()``/``consume()``/``flush()``, never from librdkafka's own threads, as
``log(level, "%s [%s] %s", facility, client, text)``.  :class:`LibrdkafkaLines`, the
logger's filter, turns that into one structured record (``facility``, ``client``;
the level is librdkafka's, mapped by confluent-kafka) and drops repeats: the same
text (digits aside: "after 0ms" and "after 3ms" are one text) from the same client
at most once per ``REPEAT_EVERY`` seconds, the next one saying how many it stood for.
Measured without it: an unreachable broker wrote 227 raw lines in 10 s.

:class:`Reachability` is kafkahooks' own word on it: "cannot reach Kafka at ...
since ..." once when every broker is down, "Kafka reachable again" once when one
answers; the health endpoint reads ``since``.  Thread-safe: Kafka threads report.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["KAFKA_LOGGER", "REPEAT_EVERY", "LibrdkafkaLines", "Reachability", "with_logger"]

REPEAT_EVERY = 30.0  # seconds between two equal lines of one client
_MAX_KEYS = 4096  # distinct lines remembered before old ones are forgotten
_THREAD = re.compile(r"^\[thrd:[^\]]*\]: ")
_DIGITS = re.compile(r"\d+")

log = logging.getLogger("kafkahooks.kafka")


class LibrdkafkaLines(logging.Filter):
    """One structured, rate-limited record per librdkafka line (see the module doc)."""

    def __init__(
        self, every: float = REPEAT_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}  # → (last shown, dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 3):
            return True  # not a librdkafka line: leave it as it is
        facility, client, text = (str(a) for a in args)
        text = _THREAD.sub("", text)
        key = (client, facility, _DIGITS.sub("#", text))
        now = self._clock()
        with self._lock:
            shown, dropped = self._seen.get(key, (-self._every, 0))
            if now - shown < self._every:
                self._seen[key] = (shown, dropped + 1)
                return False
            if len(self._seen) >= _MAX_KEYS:
                self._forget(now)
            self._seen[key] = (now, 0)
        record.msg, record.args = text, None
        fields: dict[str, object] = {"facility": facility, "client": client}
        if dropped:
            fields["repeated"] = dropped  # equal lines dropped since the last one shown
        vars(record).update(fields)
        return True

    def _forget(self, now: float) -> None:
        """Drop what would be shown again anyway; if that is not enough, everything."""
        stale = [k for k, (shown, _) in self._seen.items() if now - shown >= self._every]
        for key in stale:
            del self._seen[key]
        if len(self._seen) >= _MAX_KEYS:
            self._seen.clear()


KAFKA_LOGGER = logging.getLogger("kafkahooks.librdkafka")
KAFKA_LOGGER.addFilter(LibrdkafkaLines())


def with_logger(conf: dict[str, Any]) -> dict[str, Any]:
    """``conf`` with kafkahooks' logger for librdkafka's lines (unless it names one)."""
    return {"logger": KAFKA_LOGGER, **conf}


def _clock_text(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Reachability:
    """Whether the cluster at ``bootstrap`` answers; each change is said once."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._lock = threading.Lock()
        self.since: float | None = None  # unix time since when no broker answers

    def unreachable(self, error: str) -> None:
        """No broker answers (librdkafka's ``_ALL_BROKERS_DOWN``)."""
        with self._lock:
            if self.since is not None:
                return
            self.since = time.time()
        log.error(
            f"cannot reach Kafka at {self.bootstrap} since {_clock_text(self.since)}",
            extra={"bootstrap": self.bootstrap, "error": error},
        )

    def reachable(self) -> None:
        """A broker answered (statistics say UP, or the group assigned partitions)."""
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            log.info(
                "Kafka reachable again",
                extra={"bootstrap": self.bootstrap, "down_s": round(time.time() - since, 1)},
            )
