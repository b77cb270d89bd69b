"""Hot reload: a valid routes file is applied, anything else leaves the running config."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkahooks.app import bridge as service_module
from kafkahooks.app.bridge import Bridge
from kafkahooks.app.reload import Reloader, ReloadError
from kafkahooks.app.settings import Settings
from kafkahooks.config import RoutesFile
from kafkahooks.config.models import KafkaConfig, RouteConfig, pick_route
from kafkahooks.delivery.errors import PermanentDeliveryError, RouteDisabledError
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import RouteTable
from kafkahooks.event import Event
from kafkahooks.kafka import topics as topics_module
from tests.support.pipelines import Answering, Harness, route_config, until

ROUTES = """
kafka: {{bootstrap_servers: 127.0.0.1:9, group_id: reload-test}}
routes:
  - name: {name}
    topics: [calls]
    template: {{id: "{{{{ key }}}}"}}
    endpoint: {{url: "https://hooks.example.test/{name}"}}
"""


class FakeBridge:
    """Stands in for the Bridge: records what it was given, or refuses it."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.applied: list[RoutesFile] = []
        self.refuse = refuse

    async def apply(self, config: RoutesFile) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.applied.append(config)

    @property
    def route_names(self) -> list[list[str]]:
        return [[r.name for r in c.routes] for c in self.applied]


def _write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.write_text(text)
    if mtime is not None:  # an explicit mtime: coarse file-system clocks can't hide a change
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    return _write(tmp_path / "routes.yaml", ROUTES.format(name="calls"), mtime=1_700_000_000)


def test_a_valid_file_is_applied(routes: Path) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes)
    _write(routes, ROUTES.format(name="calls-v2"))
    assert asyncio.run(reloader.reload()) is True
    assert bridge.route_names == [["calls-v2"]]
    assert (reloader.applied, reloader.rejected) == (1, 0)


def test_an_invalid_file_is_rejected_logged_and_counted(
    routes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes)
    _write(routes, ROUTES.format(name="calls").replace("https://", "ftp://"))
    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        assert asyncio.run(reloader.reload()) is False
    assert bridge.applied == []
    assert (reloader.applied, reloader.rejected) == (0, 1)
    (record,) = caplog.records
    assert "running config stays" in record.getMessage()
    problems: list[str] = record.__dict__["problems"]
    assert any("route 'calls' → endpoint.url" in p for p in problems)


def test_a_missing_file_is_rejected(routes: Path) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes)
    routes.unlink()
    assert asyncio.run(reloader.reload()) is False
    assert (bridge.applied, reloader.rejected) == ([], 1)


def test_a_change_that_needs_a_restart_is_rejected(
    routes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = FakeBridge(refuse=ReloadError("kafka.group_id changed: restart to apply"))
    reloader = Reloader(bridge, routes)
    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        assert asyncio.run(reloader.reload()) is False
    assert (reloader.applied, reloader.rejected) == (0, 1)
    assert caplog.records[0].__dict__["problems"] == ["kafka.group_id changed: restart to apply"]


def test_a_bug_while_applying_is_rejected_not_raised(routes: Path) -> None:
    reloader = Reloader(FakeBridge(refuse=RuntimeError("boom")), routes)
    assert asyncio.run(reloader.reload()) is False
    assert reloader.rejected == 1


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the watcher run until ``condition`` holds (it checks every 0.05 s)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {timeout} s")


def test_the_watcher_reloads_when_the_file_changes_and_on_request(routes: Path) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes, interval=0.05)

    async def scenario() -> None:
        watcher = asyncio.create_task(reloader.watch())
        try:
            # several intervals with no change: nothing is reloaded
            await asyncio.sleep(0.2)
            assert bridge.applied == []
            _write(routes, ROUTES.format(name="edited"), mtime=1_700_000_100)
            await _until(lambda: reloader.applied == 1)
            assert bridge.route_names == [["edited"]]
            reloader.request()  # SIGHUP: reload even though the file did not change
            await _until(lambda: reloader.applied == 2)
            # a broken edit is rejected, and the watcher keeps watching
            _write(routes, "routes: [", mtime=1_700_000_200)
            await _until(lambda: reloader.rejected == 1)
            _write(routes, ROUTES.format(name="fixed"), mtime=1_700_000_300)
            await _until(lambda: reloader.applied == 3)
            assert not watcher.done()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert bridge.route_names == [["edited"], ["edited"], ["fixed"]]

    asyncio.run(scenario())


# -- applying a reload: the bridge and the pipeline ------------------------------------

SETTINGS = Settings(http_port=0, allow_local_targets=False)


def _config(*routes: RouteConfig) -> RoutesFile:
    # port 9 on loopback: nothing listens, nothing leaves the machine
    return RoutesFile(
        kafka=KafkaConfig(
            bootstrap_servers="127.0.0.1:9", group_id="reload-unit", properties={"log_level": 0}
        ),
        routes=list(routes),
    )


@pytest.fixture
def bridges() -> Iterator[Callable[[RoutesFile], Bridge]]:
    made: list[Bridge] = []

    def make(config: RoutesFile) -> Bridge:
        bridge = Bridge(config, SETTINGS, sender=Answering())
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.dead_letters.close(0)
        bridge.producer.close(0)
        for member in bridge.members:
            member.loop._consumer.close()


def _apply(bridge: Bridge, config: RoutesFile) -> None:
    async def apply() -> None:
        result = bridge.apply(config)
        if inspect.isawaitable(result):
            await result

    asyncio.run(apply())


def test_records_of_a_topic_a_reload_removed_are_not_taken_and_are_read_again() -> None:
    calls, other = route_config("calls", ["calls"]), route_config("other", ["other"])
    retrying = route_config("calls", ["calls"], retry_topics={"delays": [1], "prefix": "r.calls"})
    harness = Harness([retrying, other])
    pipeline, tracker = harness.pipeline, harness.tracker
    tracker.assign([("other", 0), ("r.calls.1", 0)])
    pipeline.replace_routes(RouteTable([calls]))  # "other" and the retry topic are gone

    for topic in ("other", "r.calls.1"):  # the consumer has not dropped them yet
        due = pipeline.accept(Event(topic, 0, 7, 0, b"k", b'{"id": 1}'))
        assert due is not None and due > time.time()  # read again later, not taken
    assert tracker.outstanding == 0
    assert tracker.positions(force=True) == {}  # nothing passes the record

    pipeline.replace_routes(RouteTable([calls, other]))  # the route came back first

    async def read_again() -> None:
        assert pipeline.accept(Event("other", 0, 7, 0, b"k", b'{"id": 1}')) is None
        await until(lambda: harness.finished("other") == 8)

    asyncio.run(read_again())
    assert len(harness.sender.sent) == 1


@pytest.mark.parametrize(
    ("before", "after", "problem"),
    [
        ({"ordering": "key"}, {"ordering": "none"}, "ordering changed (key → none)"),
        ({}, {"batch": {"max_events": 10}}, "batch turned on"),
        ({"batch": {"max_events": 10}}, {}, "batch turned off"),
        ({"batch": {"lanes": 8}}, {"batch": {"lanes": 2}}, "batch lanes changed (8 → 2)"),
    ],
)
def test_a_reload_that_changes_a_routes_lanes_is_refused(
    bridges: Callable[[RoutesFile], Bridge],
    before: dict[str, Any],
    after: dict[str, Any],
    problem: str,
) -> None:
    bridge = bridges(_config(route_config("calls", ["calls"], **before)))
    running = bridge.members[0].pipeline.routes
    with pytest.raises(ReloadError, match=re.escape(f"route 'calls': {problem}: restart")):
        _apply(bridge, _config(route_config("calls", ["calls"], **after)))
    assert bridge.members[0].pipeline.routes is running  # the running config stays
    # other changes to the route still apply
    template = {"template": {"id": "{{ value.id }}", "v": 2}}
    _apply(bridge, _config(route_config("calls", ["calls"], **before, **template)))
    assert bridge.members[0].pipeline.routes is not running


def test_new_retry_topics_are_created_off_the_event_loop(
    bridges: Callable[[RoutesFile], Bridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[list[str]] = []

    def slow_admin(properties: dict[str, Any], topics: list[str], *args: Any) -> None:
        time.sleep(0.5)  # an admin endpoint that does not answer
        created.append(topics)

    monkeypatch.setattr(topics_module, "ensure_topics", slow_admin)
    monkeypatch.setattr(service_module, "ensure_topics", slow_admin)  # where main called it
    bridge = bridges(_config(route_config("calls", ["calls"])))
    retrying = route_config("calls", ["calls"], retry_topics={"delays": [1, 2], "prefix": "r.c"})
    ticks = 0

    async def scenario() -> None:
        nonlocal ticks

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.05)
        ticks = 0
        result = bridge.apply(_config(retrying))
        if inspect.isawaitable(result):
            await result
        ticker.cancel()

    asyncio.run(scenario())
    assert created == [["r.c.1", "r.c.2"]]
    assert ticks >= 10, f"the event loop was blocked while topics were created ({ticks} ticks)"
    assert bridge.members[0].pipeline.topics == ["calls", "r.c.1", "r.c.2"]


def test_a_route_disabled_by_410_stays_disabled_across_reloads(
    bridges: Callable[[RoutesFile], Bridge],
) -> None:
    bridge = bridges(_config(route_config("calls", ["calls"])))
    gone = DeliveryReport(1, 410, PermanentDeliveryError("HTTP 410", 410))
    pick_route(bridge.members[0].routes.routes, "calls").state.observe("calls", gone)

    edited = {"template": {"id": "{{ value.id }}", "edited": True}}
    _apply(bridge, _config(route_config("calls", ["calls"], **edited)))

    route = pick_route(bridge.members[0].pipeline.routes.routes, "calls")
    assert route.template is not None and route.config.template["edited"] is True
    report = route.state.short_circuit()
    assert report is not None and isinstance(report.error, RouteDisabledError)


def test_changed_endpoint_limits_apply_after_a_reload(
    bridges: Callable[[RoutesFile], Bridge],
) -> None:
    bridge = bridges(_config(route_config("calls", ["calls"], limits={"concurrency": 1})))
    deliverer = bridge.members[0].deliverer

    async def concurrent_slots() -> int:
        """How many requests to the route's origin may be in flight at once (up to 3)."""
        gate = deliverer.gate(pick_route(bridge.members[0].pipeline.routes.routes, "calls"))
        held = 0
        slots = [gate.slot() for _ in range(3)]
        for slot in slots:
            try:
                await asyncio.wait_for(slot.__aenter__(), 0.05)
            except TimeoutError:
                break
            held += 1
        for slot in slots[:held]:
            await slot.__aexit__(None, None, None)
        return held

    assert asyncio.run(concurrent_slots()) == 1
    _apply(bridge, _config(route_config("calls", ["calls"], limits={"concurrency": 2})))
    assert asyncio.run(concurrent_slots()) == 2


def test_an_origins_limits_are_shared_across_consumer_groups(
    bridges: Callable[[RoutesFile], Bridge],
) -> None:
    shared = route_config("calls", ["calls"], limits={"concurrency": 1})
    isolated = route_config("calls-isolated", ["calls"], isolation="group")
    bridge = bridges(_config(shared, isolated))
    assert len(bridge.members) == 2
    gates = [m.deliverer.gate(m.pipeline.routes.routes[0]) for m in bridge.members]
    assert gates[0] is gates[1]  # the same origin: one gate, the first route's limits


def test_an_open_breaker_stays_open_when_a_reload_changes_the_limits(
    bridges: Callable[[RoutesFile], Bridge],
) -> None:
    breaker = {"failures": 1, "probe_after": 60}
    bridge = bridges(_config(route_config("calls", ["calls"], circuit_breaker=breaker)))
    member = bridge.members[0]
    gate = member.deliverer.gate(pick_route(member.pipeline.routes.routes, "calls"))
    gate.record(False, probe=False)
    assert gate.breaker is not None and gate.breaker.state == "open"

    limits = {"limits": {"concurrency": 5}, "circuit_breaker": breaker}
    _apply(bridge, _config(route_config("calls", ["calls"], **limits)))

    after = member.deliverer.gate(pick_route(member.pipeline.routes.routes, "calls"))
    assert after.limits.concurrency == 5
    assert after.breaker is not None and after.breaker.state == "open"
