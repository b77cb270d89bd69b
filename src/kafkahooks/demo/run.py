"""``kafkahooks demo``: embedded broker + verifying receiver + sample events,
run through ``examples/demo.yaml``, then a summary.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kafkahooks.app import Bridge, Settings
from kafkahooks.config import load_config
from kafkahooks.decode import avro_bytes, load_avsc
from kafkahooks.demo.broker import EmbeddedBroker
from kafkahooks.demo.receiver import VerifyingReceiver
from kafkahooks.kafka import with_logger
from kafkahooks.telemetry import setup_logging

__all__ = ["Progress", "produce", "project_file", "run_demo"]

TOPIC = "calls.status"
PARTITIONS = 4
STATUSES = ["queued", "ringing", "in-progress", "ended"]


def project_file(relative: str) -> Path:
    """Find a file of the project checkout (cwd first, then beside the package)."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{relative} not found; run the demo from the kafkahooks checkout")


def sample_events() -> list[dict[str, Any]]:
    folder = project_file("schemas/call-status")
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def json_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def avro_encoder() -> Callable[[dict[str, Any]], bytes]:
    """Call-status events as schemaless Avro, written with the schema the demo routes read."""
    schema = load_avsc(str(project_file("schemas/call-status/call-status.avsc")))
    return lambda event: avro_bytes(schema, event)


def produce(
    bootstrap: str,
    events: int,
    calls: int,
    encode: Callable[[dict[str, Any]], bytes] = json_bytes,
    tenants: Sequence[str] = (),
) -> int:
    """``tenants``: calls go round them (the event's ``companionId``, and the prefix of
    its call id, so a receiver can tell whose calls reached it)."""
    # with_logger: librdkafka's lines go through kafkahooks' logger (structured,
    # rate-limited), not raw to stderr over the demo's progress lines
    admin = AdminClient(with_logger({"bootstrap.servers": bootstrap}))
    for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        future.result(10)
    samples = sample_events()
    producer = Producer(with_logger({"bootstrap.servers": bootstrap, "linger.ms": 5}))
    produced = 0
    for step in range(len(samples)):
        for call in range(calls):
            if produced >= events:
                break
            call_id = f"call-{call:06d}"
            event = copy.deepcopy(samples[step])
            if tenants:
                event["companionId"] = tenants[call % len(tenants)]
                call_id = f"{event['companionId']}/{call_id}"
            event["callId"] = call_id
            event["data"]["phoneNumber"] = f"+61 2 9000 {call % 10000:04d}"
            producer.produce(TOPIC, key=call_id, value=encode(event))
            produced += 1
            if produced % 10_000 == 0:
                producer.flush()
    producer.flush(30)
    return produced


def order_violations(by_key: dict[str, list[Any]]) -> int:
    bad = 0
    for statuses in by_key.values():
        ranks = [STATUSES.index(s) for s in statuses if s in STATUSES]
        bad += sum(1 for a, b in itertools.pairwise(ranks) if b < a)
    return bad


class Progress:
    """Progress lines that say what is happening: the group join first (nothing can be
    delivered before the partitions are assigned: about half the session timeout on
    the test broker), then the count whenever it moved (at most every 0.25 s), and
    always the final count; never the same line twice."""

    def __init__(self, expected: int, out: TextIO = sys.stdout, every: float = 0.25) -> None:
        self.expected = expected
        self.out = out
        self.every = every
        self.shown: tuple[str, int] | None = None
        self.printed_at = 0.0
        self.joined_at: float | None = None

    def update(self, now: float, joined: bool, delivered: int, *, final: bool = False) -> None:
        if not joined:
            self._line(("joining", 0), "  waiting for the consumer group to assign partitions "
                       "(the first join takes a few seconds)")
            return
        if self.joined_at is None:
            self.joined_at = now
            self._line(("joined", 0), "  partitions assigned; delivering")
        if final or (delivered != self._count() and now - self.printed_at >= self.every):
            self.printed_at = now
            self._line(("delivered", delivered),
                       f"  delivered {delivered:>7} / {self.expected}"
                       f"  ({now - self.joined_at:.1f} s since the assignment)")

    def _count(self) -> int:
        return self.shown[1] if self.shown is not None and self.shown[0] == "delivered" else -1

    def _line(self, key: tuple[str, int], text: str) -> None:
        if key != self.shown:
            self.shown = key
            print(text, file=self.out, flush=True)


async def _run(bridge: Bridge, receiver: VerifyingReceiver, expected: int, timeout: float) -> float:
    task = asyncio.create_task(bridge.run())
    started = time.monotonic()
    first: float | None = None
    progress = Progress(expected)
    while time.monotonic() - started < timeout and not task.done():
        await asyncio.sleep(0.05)
        done = receiver.state.verified + bridge.stats.dead_lettered
        if first is None and done:
            first = time.monotonic()
        joined = all(m.loop.joined for m in bridge.members)
        progress.update(time.monotonic(), joined or done > 0, receiver.state.verified)
        if len(receiver.state.ids) + bridge.stats.dead_lettered >= expected:
            break
    elapsed = time.monotonic() - (first or started)
    progress.update(time.monotonic(), True, receiver.state.verified, final=True)
    bridge.stop()
    await task
    return elapsed


def run_demo(
    events: int = 2000, calls: int = 0, timeout: float = 300.0, value_format: str = "json"
) -> int:
    """``value_format`` ``avro``: produce schemaless Avro, read with examples/demo-avro.yaml."""
    avro = value_format == "avro"
    setup_logging("WARNING", "text")
    calls = calls or max(1, events // len(STATUSES))
    secret = secrets.token_hex(32)
    with EmbeddedBroker() as broker:
        receiver = VerifyingReceiver(secret).start()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "TARGET_URL": receiver.url,
            "WEBHOOK_SECRET": secret,
            "SOURCE_TOPIC": TOPIC,
            "SESSION_TIMEOUT_MS": "6000",
            "HEARTBEAT_INTERVAL_MS": "1000",
        }
        config_path = project_file("examples/demo-avro.yaml" if avro else "examples/demo.yaml")
        config = load_config(config_path, env)
        print(f"kafkahooks demo: broker {broker.bootstrap}, receiver {receiver.url}")
        encode = avro_encoder() if avro else json_bytes
        produced = produce(broker.bootstrap, events, calls, encode)
        print(f"  produced {produced} call-status events ({calls} calls, {value_format}) "
              f"to {TOPIC}")
        settings = Settings(allow_local_targets=True, shutdown_timeout=5, http_port=0)
        bridge = Bridge(config, settings)
        elapsed = asyncio.run(_run(bridge, receiver, produced, timeout))
        receiver.stop()
    state, stats = receiver.state, bridge.stats
    violations = order_violations(state.by_key)
    rate = len(state.ids) / elapsed if elapsed > 0 else 0.0
    print("\nsummary")
    print(f"  events produced       {produced}")
    print(f"  deliveries (unique)   {len(state.ids)}")
    print(f"  signatures verified   {state.verified}   rejected {state.rejected}")
    print(f"  duplicates            {state.duplicates}")
    print(f"  dead-lettered         {stats.dead_lettered}")
    print(f"  per-call order errors {violations}")
    print(f"  throughput            {rate:,.0f} events/s  (config {config_path})")
    ok = len(state.ids) == produced and state.rejected == 0 and violations == 0
    print("  result                " + ("OK" if ok else "FAILED"))
    sys.stdout.flush()
    return 0 if ok else 1
