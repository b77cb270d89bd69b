"""The engine's own cost per event, in process: no Kafka, no network, no sockets.

Records go through ``Pipeline.accept`` exactly as the consumer loop hands them over
(the harness of ``tests/support/pipelines.py``: a sender that answers 200 at once, a
template of 6 fields, HMAC-SHA256 signing) and the CPU time until the offset tracker has
finished them all is divided by the events::

    PYTHONPATH=src:. .venv/bin/python bench/engine_cost.py key 60000

For a before/after comparison that the shared machine's noise cannot blur, count
instructions instead of seconds, at two sizes, and take the difference per event (start-up
cancels out)::

    for n in 1000 6000; do PYTHONPATH=src:. valgrind --tool=callgrind \\
        --callgrind-out-file=/tmp/cg.$n .venv/bin/python bench/engine_cost.py key $n; done
    # (instructions at 6000 - instructions at 1000) / 5000 = instructions per event

Orderings: ``key``, ``partition``, ``none``, or ``batch`` (key lanes, batches of 100).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from tests.support.pipelines import Harness, route_config

from kafkahooks.event import Event

TEMPLATE = {
    "event": "{{ value.event }}",
    "callId": "{{ key }}",
    "status": "{{ value.data.status }}",
    "n": "{{ value.data.n }}",
    "meta": {"id": "{{ event_id }}", "off": "{{ offset }}"},
}


async def run(ordering: str, events: int) -> float:
    batch = {"batch": {"max_events": 100, "max_wait_ms": 5}} if ordering == "batch" else {}
    route = route_config(
        "bench",
        ["t"],
        ordering="key" if ordering == "batch" else ordering,
        template=TEMPLATE,
        signing={"scheme": "hmac-sha256", "secret": "bench-secret", "header": "x-signature"},
        retry={"max_attempts": 3},
        **batch,
    )
    harness = Harness([route])
    harness.tracker.assign([("t", 0)])
    values = [
        json.dumps({"event": "e", "data": {"status": "ringing", "n": i}}).encode()
        for i in range(events)
    ]
    start = time.process_time()
    for offset, value in enumerate(values):
        key = f"call-{offset % 1000}".encode()
        harness.pipeline.accept(Event("t", 0, offset, 1_700_000_000_000 + offset, key, value, []))
        if offset % 200 == 199:
            await asyncio.sleep(0)  # let deliveries run, as the consumer loop does
    while (harness.finished("t") or 0) < events:  # noqa: ASYNC110 (polls, as the loop does)
        await asyncio.sleep(0.001)
    return time.process_time() - start


def main() -> int:
    ordering = sys.argv[1] if len(sys.argv) > 1 else "key"
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 60_000
    seconds = asyncio.run(run(ordering, events))
    print(f"{ordering}: {events:,} events, {1e6 * seconds / events:.2f} µs CPU per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
