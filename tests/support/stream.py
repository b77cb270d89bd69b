"""A steady stream of events produced from a background thread while a test
injects faults: ``id`` is a global sequence number, keys spread over calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from confluent_kafka import Producer


class PacedProducer:
    """Produce ``{"event", "id", "status"}`` records at about ``rate`` per second
    until at least ``minimum`` are out and ``until()`` holds (or ``maximum``)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        rate: float,
        minimum: int,
        maximum: int | None = None,
        keys: int = 200,
        until: Callable[[], bool] = lambda: True,
    ) -> None:
        self.topic = topic
        self.rate = rate
        self.minimum = minimum
        self.maximum = maximum or minimum * 4
        self.keys = keys
        self.until = until
        self.produced = 0
        self.started = 0.0
        self.finished = 0.0
        self._stop = threading.Event()
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._thread = threading.Thread(target=self._run, name="paced-producer", daemon=True)

    def start(self) -> PacedProducer:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self.finished > 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert self.done, f"producer still running after {timeout}s ({self.produced} out)"

    def ids(self) -> range:
        return range(self.produced)

    def _enough(self) -> bool:
        if self.produced >= self.maximum:
            return True
        return self.produced >= self.minimum and self.until()

    def _run(self) -> None:
        step = max(1, int(self.rate / 20))  # 20 small bursts a second
        self.started = time.monotonic()
        while not self._stop.is_set() and not self._enough():
            for _ in range(step):
                i = self.produced
                value = json.dumps({"event": "e", "id": i, "status": "s"}).encode()
                self._producer.produce(self.topic, key=f"call-{i % self.keys}", value=value)
                self.produced += 1
            self._producer.poll(0)
            due = self.started + self.produced / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
        assert self._producer.flush(30) == 0, "produce did not complete"
        self.finished = time.monotonic()
