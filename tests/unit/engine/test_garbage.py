"""A delivery leaves nothing for the cyclic collector: what its path makes is freed by
reference counting when it ends.  A reference cycle per event is invisible to every other
test and costs each event its share of the young collections that free it (once, a job
that referred to itself: 20 collections per 20,000 events, 5-6 µs per event in
``bench/tenant_path.py``)."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable

import pytest

from kafkahooks.event import Event
from tests.support.pipelines import Harness, route_config, until
from tests.support.tenants import TenantHarness, endpoint, event, tenant_route

FEW, MANY = 100, 400
# a pipeline's "finished up to" and "accept"
Make = Callable[[], tuple[Callable[[], int | None], Callable[[Event], None]]]


def _static() -> tuple[Callable[[], int | None], Callable[[Event], None]]:
    harness = Harness([route_config("calls", ["t"])])
    harness.tracker.assign([("t", 0)])
    return (lambda: harness.finished("t")), harness.pipeline.accept


def _tenant() -> tuple[Callable[[], int | None], Callable[[Event], None]]:
    harness = TenantHarness(
        [tenant_route(retry_topics=None)],
        [endpoint(f"ep_{t}_{i}", tenant=f"acct-{t}") for t in range(10) for i in range(3)],
    )
    harness.tracker.assign([("t", 0)])
    return harness.finished, harness.pipeline.accept


def _cyclic_garbage(make: Make, n: int) -> int:
    """Objects only the cyclic collector could free once ``n`` events were delivered
    (asked while the pipeline is alive: what it keeps on purpose is not garbage)."""

    async def deliver() -> int:
        finished, accept = make()
        for i in range(n):
            value = {"id": i, "event": "call.ended", "account": f"acct-{i % 10}"}
            accept(event(json.dumps(value).encode(), offset=i, key=str(i).encode()))
        await until(lambda: finished() == n, timeout=10)
        return gc.collect()

    gc.collect()
    gc.disable()
    try:
        return asyncio.run(deliver())
    finally:
        gc.enable()


@pytest.mark.parametrize("make", [_static, _tenant], ids=["static route", "customer endpoints"])
def test_delivering_events_leaves_no_reference_cycle_per_event(make: Make) -> None:
    # set-up and the event loop make some cycles once; events must not add any
    once = _cyclic_garbage(make, FEW)
    assert _cyclic_garbage(make, MANY) - once < (MANY - FEW) / 10
