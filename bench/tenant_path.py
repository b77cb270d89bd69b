"""The engine's own CPU per event, static route vs customer endpoints, without the network.

``bench/endpoints.py`` measures whole bridges against a broker and nginx; on a shared
2-core machine its rounds vary by up to 60 %, more than the difference it is after.  This
script runs the same Python path in one process, so the difference between the two
routes stands out: every event goes through the pipeline (intake → decode → fan-out →
dispatch → lane → deliver → settle → tracker), and the sender does the HTTP/1.1 client's
per-request work (request target, the guard's check, encoding the request head) and
answers 200 at once.  Left out, the same for both routes: librdkafka, sockets, the event
loop's I/O.

The events are ``bench/endpoints.py``'s: call-status JSON with an ``accountId``, one
matching endpoint each, cycling over ``--tenants`` tenants whose endpoints (``--endpoints``
in all, every one a distinct path on one origin) sit in an in-memory directory::

    PYTHONPATH=src .venv/bin/python bench/tenant_path.py
    PYTHONPATH=src .venv/bin/python bench/tenant_path.py --events 20000 --rounds 7 --profile

Prints the CPU µs per event of each side (best of ``--rounds``, run alternately) and their
ratio; ``--profile`` also prints each side's cProfile by own time.  ``--store`` decodes the
endpoints from encrypted store records into an endpoint table, as a bridge holds them.

Seconds on a shared machine vary by 20 % between runs; instructions do not.  Per side, at
two sizes (the set-up cancels out), under callgrind::

    for side in static tenant; do for n in 1000 3000; do PYTHONPATH=src valgrind \
        --tool=callgrind --callgrind-out-file=/tmp/cg.$side.$n .venv/bin/python \
        bench/tenant_path.py --rounds 1 --events $n --only $side; done; done
    # (instructions at 3000 - instructions at 1000) / 2000 = instructions per event

Instructions leave out what the cache misses of touching a different endpoint per event
cost, which ``bench/endpoints.py`` sees.  ``PYTHONPATH=OLD/src`` runs an older tree.

``--opcodes`` counts the bytecodes each side executes per event instead (``sys.settrace``
opcode events, ``--events`` per side after one untraced round), in all and per function,
largest differences first: where the tenant route's extra interpreter work is, exact and
in seconds of run time rather than minutes under callgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import workload
from pydantic import SecretStr
from rows import TEMPLATE

from kafkahooks.app.gctune import tune_gc
from kafkahooks.config.models import RouteConfig
from kafkahooks.config.tenants import TENANT_RETRY_DELAYS
from kafkahooks.delivery import http1
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.guard import check_authority
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import RouteTable
from kafkahooks.delivery.sender import Response
from kafkahooks.endpoints import (
    Endpoint,
    EndpointDirectory,
    EndpointSpec,
    EndpointTable,
    Keyring,
    MemoryDirectory,
    SigningSecret,
    create_endpoint,
    encode_endpoint,
    generate_key_spec,
)
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.event import Event
from kafkahooks.kafka.offsets import OffsetTracker

TOPIC = "bench.single"
ORIGIN = "http://127.0.0.1:8080"
EVENT_TYPE = "status-changed"


class EncodingSender:
    """The HTTP/1.1 client's work per request, then 200 (nothing is sent).  It also runs
    on trees from before ``_target`` returned the path beside the origin's target (an
    A/B with ``PYTHONPATH=OLD/src``)."""

    sent = 0

    async def send(self, request: OutboundRequest) -> Response:
        where = getattr(http1, "_request_target", None)  # older trees: the URL alone
        found: Any = where(request) if where is not None else http1._target(request.url)
        if isinstance(found, tuple):
            target, path = found
            check_authority(target.authority, request.policy)
            http1._encode(request.method, target, path, request.headers, request.body)
        else:
            check_authority(found.authority, request.policy)
            encode: Any = http1._encode
            encode(request.method, found, request.headers, request.body)
        self.sent += 1
        return Response(200)

    async def aclose(self) -> None:
        pass


class NoDeadLetters:
    async def write(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("no event of this bench is dead-lettered")


def route_config(tenant: bool) -> RouteConfig:
    route: dict[str, Any] = {
        "name": "bench",
        "topics": [TOPIC],
        "events": [EVENT_TYPE],
        "template": TEMPLATE,
        "on_missing": "omit",
        "signing": {"scheme": "hmac-sha256", "header": "x-signature"},
        "retry": {"max_attempts": 5, "initial_backoff": 0.2, "max_backoff": 5},
        "ordering": "key",
    }
    if tenant:
        route["endpoints"] = {"tenant": "value.accountId", "timeout": 10}
    else:
        # the same as the tenant route in what is not about customer endpoints: the header
        # every bench endpoint has, and the retry topics a tenant route has by default
        headers = {"X-Customer": "acct-000000"}
        route["endpoint"] = {"url": f"{ORIGIN}/hook", "timeout": 10, "headers": headers}
        route["retry_topics"] = {"delays": list(TENANT_RETRY_DELAYS)}
        route["signing"]["secret"] = "bench-secret"
    return RouteConfig.model_validate(route)


def directory(endpoints: int, tenants: int) -> MemoryDirectory:
    return MemoryDirectory(endpoint_list(endpoints, tenants))


def endpoint_list(endpoints: int, tenants: int) -> list[Endpoint]:
    """``endpoints`` over ``tenants`` round-robin; each tenant's first takes the events."""
    out = []
    for i in range(endpoints):
        tenant, slot = f"acct-{i % tenants:06d}", i // tenants
        out.append(
            Endpoint(
                id=f"ep_{i:026d}",
                tenant=tenant,
                url=f"{ORIGIN}/t/{tenant}/{slot}",
                secrets=(SigningSecret(SecretStr(f"whsec-bench-{i}")),),
                description=f"Webhook {slot} of customer {tenant} for call events",
                event_types=(EVENT_TYPE,) if slot == 0 else ("call.recorded",),
                headers={"X-Customer": tenant},
                offset=i,
            )
        )
    return out


def store_table(endpoints: int, tenants: int) -> EndpointTable:
    """The same endpoints as ``directory``, but as a bridge holds them: encrypted store
    records decoded into an endpoint table (its heap, its load's leftovers)."""
    from kafkahooks.app.gctune import collector_paused  # not in older trees (an A/B)

    keyring = Keyring.parse(generate_key_spec("bench"))
    records = []
    for ep in endpoint_list(endpoints, tenants):
        fresh = create_endpoint(
            EndpointSpec.parse(
                {"url": ep.url, "description": ep.description,
                 "event_types": list(ep.event_types), "headers": dict(ep.headers)},
                allow_local=True,
            ),
            ep.tenant, now=time.time(),
        )  # fmt: skip
        records.append((fresh.id, encode_endpoint(fresh, keyring, -1, time.time())))
    table = EndpointTable(keyring)
    with collector_paused():  # as app/store.py loads
        for offset, (key, value) in enumerate(records):
            table.apply(key, value, offset)
    return table


def events(count: int, keys: int, tenants: int) -> list[Event]:
    base = workload.samples()
    out = []
    for i in range(count):
        call_id = f"call-{i % keys:06d}"
        value = workload.call_event(base, call_id, i // keys)
        value["accountId"] = f"acct-{i % tenants:06d}"
        out.append(Event(TOPIC, i % 12, i // 12, 1_718_000_000_000 + i,
                         call_id.encode(), json.dumps(value).encode()))  # fmt: skip
    return out


class Side:
    def __init__(self, name: str, tenant: bool, found: EndpointDirectory | None) -> None:
        self.name, self.tenant, self.found = name, tenant, found
        self.runs: list[float] = []

    def pipeline(self) -> tuple[Pipeline, OffsetTracker, EncodingSender]:
        tracker = OffsetTracker()
        if self.tenant:
            tracker.set_sparse(frozenset([TOPIC]))
        tracker.assign([(TOPIC, p) for p in range(12)])
        sender = EncodingSender()
        table = RouteTable([route_config(self.tenant)], directory=self.found, allow_local=True)
        deliverer = Deliverer(sender, 200)
        pipeline = Pipeline(table, deliverer, NoDeadLetters(), tracker)  # type: ignore[arg-type]
        return pipeline, tracker, sender


async def run_once(side: Side, evs: list[Event], profile: cProfile.Profile | None) -> float:
    pipeline, tracker, sender = side.pipeline()
    in_flight = 200
    gc.collect()
    started = time.process_time()
    if profile is not None:
        profile.enable()
    for i, event in enumerate(evs):
        pipeline.accept(event)
        if i % in_flight == in_flight - 1:
            for _ in range(8):  # let the lanes run: deliver, settle, finish
                await asyncio.sleep(0)
    while tracker.outstanding:  # noqa: ASYNC110 - polling is the point: no event to wait on
        await asyncio.sleep(0)
    if profile is not None:
        profile.disable()
    spent = time.process_time() - started
    if sender.sent != len(evs):
        raise RuntimeError(f"{side.name}: {sender.sent} requests for {len(evs)} events")
    return spent / len(evs) * 1e6


def opcodes(side: Side, evs: list[Event]) -> Counter[str]:
    """Bytecodes executed per function (``file:function``) over one run of ``evs``."""
    counts: Counter[str] = Counter()

    def enter(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes, frame.f_trace_lines = True, False
        code = frame.f_code
        key = f"{Path(code.co_filename).name}:{code.co_name}"

        def step(frame: FrameType, event: str, arg: object) -> Any:
            if event == "opcode":
                counts[key] += 1
            return step

        return step

    asyncio.run(run_once(side, evs, None))  # warm: caches filled as in a running bridge
    sys.settrace(enter)
    try:
        asyncio.run(run_once(side, evs, None))
    finally:
        sys.settrace(None)
    return counts


def print_opcodes(sides: list[Side], evs: list[Event], top: int = 30) -> None:
    static, tenant = (opcodes(side, evs) for side in sides)
    n = len(evs)
    s_all, t_all = sum(static.values()) / n, sum(tenant.values()) / n
    extra = t_all / s_all - 1
    print(f"bytecodes per event: static {s_all:,.0f}, tenant {t_all:,.0f} ({extra:+.1%})")
    print("per function (tenant - static, per event), largest first:")
    keys = sorted(set(static) | set(tenant), key=lambda k: -abs(tenant[k] - static[k]))
    for key in keys[:top]:
        s, t = static[key] / n, tenant[key] / n
        print(f"  {t - s:+7.1f}   static {s:6.1f}  tenant {t:6.1f}   {key}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--endpoints", type=int, default=100_000)
    p.add_argument("--tenants", type=int, default=20_000)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--only", choices=["static", "tenant"], help="run one side (for a profiler)")
    p.add_argument(
        "--opcodes", action="store_true", help="bytecodes per event and per function, no timing"
    )
    p.add_argument(
        "--store", action="store_true", help="endpoints decoded from store records (slower set-up)"
    )
    args = p.parse_args(argv)
    evs = events(args.events, args.keys, args.tenants)
    found: EndpointDirectory = (
        store_table(args.endpoints, args.tenants)
        if args.store
        else directory(args.endpoints, args.tenants)
    )
    tune_gc()  # as the bridge does once started
    sides = [Side("static", False, None), Side("tenant", True, found)]
    if args.only:
        sides = [s for s in sides if s.name == args.only]
    if args.opcodes:
        print_opcodes(sides, evs)
        return 0
    profiles = {s.name: cProfile.Profile() for s in sides} if args.profile else {}
    for n in range(args.rounds):
        for side in sides if n % 2 == 0 else sides[::-1]:
            us = asyncio.run(run_once(side, evs, profiles.get(side.name) if n == 0 else None))
            side.runs.append(us)
            print(f"round {n + 1} {side.name:7} {us:7.1f} µs/event", flush=True)
    if args.only:
        return 0
    static, tenant = (min(s.runs[1 if args.profile else 0 :] or s.runs) for s in sides)
    print(
        f"\nbest of {args.rounds}: static {static:.1f} µs/event, tenant {tenant:.1f} µs/event "
        f"({args.endpoints:,} endpoints, {args.tenants:,} tenants, {args.events:,} events): "
        f"tenant throughput = {static / tenant:.0%} of static"
    )
    for name, prof in profiles.items():
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        print(f"\n--- {name} (first round, cProfile, own time)\n{text.getvalue()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
