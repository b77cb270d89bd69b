"""Micro-benchmark: render a 10-field template and sign it, on one core.

Per event it does what the pipeline does before sending: the delivery
context (event id), the body (``Route.render_body``) and the request with
its signature headers (``Route.build``).  Events are decoded beforehand, as
the consumer does, and cycled from a pool so building them is not measured.

    .venv/bin/python bench/render_sign.py [--events N] [--profile]

Target: >= 50,000 events/s.  The rate is events per second of process CPU
time: the cost on one core, which a busy shared machine does not distort the
way it distorts wall time (printed too).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from typing import Any

from kafkahooks.config import RouteConfig
from kafkahooks.delivery.route import Route, compile_route
from kafkahooks.event import Event

TARGET = 50_000
POOL = 1024

ROUTE: dict[str, Any] = {
    "name": "call-status",
    "topics": ["calls.status"],
    "events": ["status-changed"],
    "template": {
        "event": "{{ value.event }}",  # 1
        "callId": "{{ key }}",  # 2: the Kafka key
        "traceId": "{{ headers.trace-id }}",  # 3: a header
        "source": "kafkahooks",  # 4: static
        "data": {  # a nested object
            "status": "{{ value.data.status }}",  # 5
            "startedAt": "{{ value.data.startedAt }}",  # 6
            "phoneNumber": "{{ value.data.customer.phone }}",  # 7: deep path
            "durationSec": "{{ value.data.duration }}",  # 8
        },
        "meta": {
            "eventId": "{{ event_id }}",  # 9
            "occurredAt": "{{ timestamp }}",  # 10
        },
    },
    "endpoint": {"url": "https://hooks.example.test/calls", "headers": {"x-team": "voice"}},
    "signing": {"scheme": "hmac-sha256", "secret": "bench-secret", "header": "x-signature"},
}

STATUSES = ("queued", "ringing", "in-progress", "ended")


def sample_events(n: int) -> list[Event]:
    events = []
    for i in range(n):
        value = {
            "event": "status-changed",
            "type": "call",
            "companionId": f"comp-{i % 13}",
            "data": {
                "status": STATUSES[i % 4],
                "startedAt": "2024-05-01T12:00:00.000Z",
                "duration": i % 600,
                "customer": {"phone": "+4930123456", "name": "Zoë Müller"},
                "messages": [{"role": "bot", "text": "Hallo!"}],
            },
        }
        raw = json.dumps(value).encode()
        events.append(
            Event(
                topic="calls.status",
                partition=i % 6,
                offset=i,
                timestamp=1_714_564_800_000 + i,
                key=f"call-{i % 97}".encode(),
                raw_value=raw,
                headers=[("trace-id", f"trace-{i}".encode())],
                value=value,
            )
        )
    return events


def run(route: Route, events: list[Event], n: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for ``n`` events through context + render_body + build."""
    pool = len(events)
    now = time.time()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        event = events[i % pool]
        ctx = route.context(event, "status-changed")
        body = route.render_body(ctx)
        route.build(ctx, body, now)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()

    route = compile_route(RouteConfig.model_validate(ROUTE))
    events = sample_events(POOL)
    run(route, events, min(args.events, 20_000))  # warm-up
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run, route, events, args.events)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return 0
    cpu, wall = run(route, events, args.events)
    rate = args.events / cpu
    verdict = "meets" if rate >= TARGET else "BELOW"
    print(
        f"render + sign: {args.events:,} events in {cpu:.2f} s CPU = {rate:,.0f} events/s "
        f"on one core ({verdict} the {TARGET:,} events/s target); "
        f"wall {wall:.2f} s = {args.events / wall:,.0f} events/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
