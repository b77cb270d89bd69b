"""The thread that writes the bridge's endpoint status records and produces their events.

:class:`~kafkahooks.endpoints.EndpointHealth` decides (on the event loop and the store
follower's thread, without I/O); this thread carries its decisions out: every
``tick`` seconds, or as soon as there is work, it writes the due status records to the
store (pipelined, ``StoreLog.write_many``: each waits for ``acks=all``, which must never
happen on the asyncio loop) and produces the operational events (``endpoint.disabled``,
``endpoint.enabled``) on ``endpoint_store.events_topic``.

Invariants: a status write that is not acknowledged is decided again later (the next
observation, or a review); a failure here is logged and never stops deliveries (a
status record is the bridge's bookkeeping, not an event's outcome).  An event that could
not be produced is logged with its endpoint id and type (its body names no secret).
"""

from __future__ import annotations

import logging
import threading
import time

from kafkahooks.endpoints import EndpointHealth
from kafkahooks.kafka import StoreLog, StoreWriteError

__all__ = ["StatusWriter"]

log = logging.getLogger("kafkahooks.store")

WRITE_TIMEOUT = 15.0  # seconds for one round of writes to be acknowledged


class StatusWriter:
    """Carries out ``health``'s decisions on a daemon thread of its own."""

    def __init__(
        self,
        health: EndpointHealth,
        store_log: StoreLog,
        events_topic: str | None,
        tick: float = 1.0,
    ) -> None:
        self._health = health
        self._log = store_log
        self._events_topic = events_topic
        self._tick = tick
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        health.wake = self._wake.set
        self.written = 0  # status records acknowledged (tests, logs)
        self.published = 0  # events acknowledged

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="kafkahooks-endpoint-status", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the round in progress (decisions still waiting are dropped: the
        next observations make them again, on this replica or another)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._tick)
            self._wake.clear()
            try:
                self.run_once(time.time())
            except Exception:  # bookkeeping must never stop: log and go on
                log.exception("endpoint status round failed")

    def run_once(self, now: float) -> None:
        """One round: write what is due, then produce the events found."""
        work = self._health.tick(now)
        if work.writes:
            results = self._log.write_many(work.writes, WRITE_TIMEOUT)
            for (key, _value), result in zip(work.writes, results, strict=True):
                if isinstance(result, StoreWriteError):
                    log.warning(
                        "endpoint status not written", extra={"key": key, "error": str(result)}
                    )
                    self._health.retry(key)
                else:
                    self.written += 1
                    log.info("endpoint status written", extra={"key": key, "offset": result})
        for key, value in work.events:
            self._publish(key, value)

    def _publish(self, endpoint_id: str, value: bytes) -> None:
        if self._events_topic is None:
            return
        try:
            self._log.publish(self._events_topic, endpoint_id, value, WRITE_TIMEOUT)
        except StoreWriteError as exc:
            log.error(
                "endpoint event not produced",
                extra={"endpoint_id": endpoint_id, "topic": self._events_topic, "error": str(exc)},
            )
            return
        self.published += 1
