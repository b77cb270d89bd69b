"""Wire config and settings into a running bridge; signals; exit codes.

Routes with ``endpoints:`` need the replica's endpoint directory: it is the
``directory`` argument of :class:`Bridge` (handed to every member's routes table,
on start and on reload), made by ``app/store.py`` (the endpoint store, read to its end
before any group is joined).  Without one, such a config is refused at start.

Their topics, and their retry topics, are *sparse* for the offset tracker: the window
counts unfinished events only (``kafka/offsets.py``).  A topic read by routes of both
kinds is sparse too: under the dense rule one tenant's stuck event would pause the fixed
route's events with everyone else's, and a fixed endpoint's outage still fills the window
under the sparse rule (its events are unfinished).  The finished offsets above the
committed ones go to the progress topic (``settings.progress_topic``), opened before any
group is joined when some member has a sparse topic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from kafkahooks.app.gctune import tune_gc
from kafkahooks.app.health import HealthServer
from kafkahooks.app.reload import Reloader, ReloadError
from kafkahooks.app.settings import Settings
from kafkahooks.app.store import EndpointDirectories
from kafkahooks.config import RouteConfig, RoutesFile
from kafkahooks.decode import Decoders
from kafkahooks.delivery import Deliverer, Gates, Http1Sender, RouteStates, RouteTable, Sender
from kafkahooks.endpoints import EndpointDirectory, HealthObserver
from kafkahooks.engine import DeadLetterLimit, DeadLetterWriter, Pipeline, Stats
from kafkahooks.errors import KafkahooksError
from kafkahooks.kafka import (
    AckedProducer,
    ConsumerLoop,
    DeliveryLog,
    OffsetTracker,
    ProgressLog,
    Reachability,
    StoreError,
    StoreUnavailableError,
    consumer_config,
    create_topics,
    ensure_topics,
    producer_properties,
)

__all__ = ["Bridge", "Member", "RunResult", "run_bridge"]

log = logging.getLogger("kafkahooks.service")


@dataclass
class RunResult:
    exit_code: int
    stats: Stats
    commits: int
    error: str | None = None


class Member:
    """One consumer-group membership: its own consumer, offsets, window and in-flight limit.

    Routes with ``isolation: group`` get a member (and consumer group) of their
    own, so an outage of their endpoint never holds back the shared one.
    """

    def __init__(
        self,
        group_id: str,
        routes: list[RouteConfig],
        config: RoutesFile,
        settings: Settings,
        sender: Sender,
        dead_letters: DeadLetterWriter,
        delivery_log: DeliveryLog | None = None,
        producer: AckedProducer | None = None,
        *,
        states: RouteStates | None = None,
        gates: Gates | None = None,
        reach: Reachability | None = None,
        directory: EndpointDirectory | None = None,
        health: HealthObserver | None = None,
        progress: ProgressLog | None = None,
    ) -> None:
        kafka = config.kafka
        self.group_id = group_id
        self.routes = RouteTable(routes, settings.allow_local_targets, states, directory)
        self.tracker = OffsetTracker()
        self.tracker.set_sparse(sparse_topics(routes))
        self.deliverer = Deliverer(
            sender, settings.max_in_flight, delivery_log, gates, health=health
        )
        self.pipeline = Pipeline(
            self.routes,
            self.deliverer,
            dead_letters,
            self.tracker,
            decoders=Decoders(config.sources, config.schema_registry),
            dead_letter_limit=DeadLetterLimit(config.dead_letter_limit),
            producer=producer,
        )
        self.loop = ConsumerLoop(
            consumer_config(kafka.bootstrap_servers, group_id, kafka.properties),
            self.pipeline.topics,  # source topics and retry topics
            self.pipeline,
            self.tracker,
            batch=settings.poll_batch,
            window=settings.window,
            drain_timeout=settings.shutdown_timeout,
            commit_interval=settings.commit_interval,
            commit_every=settings.commit_every,
            reach=reach,
            held_max=settings.held_max,
            progress=progress,
        )


def sparse_topics(routes: list[RouteConfig]) -> frozenset[str]:
    """Topics whose window counts unfinished events only: those read by a route with
    ``endpoints:``, and that route's retry topics (a parked event to one hanging endpoint
    must not hold up the other tenants' parked events either)."""
    topics: set[str] = set()
    for route in routes:
        if route.endpoints is None:
            continue
        topics.update(route.topics)
        retry = route.retry_topics
        if retry is not None:
            topics.update(retry.topic(route.name, t) for t in range(1, len(retry.delays) + 1))
    return frozenset(topics)


def _groups(config: RoutesFile) -> list[tuple[str, list[RouteConfig]]]:
    """Consumer groups and their routes: one shared, one per ``isolation: group`` route."""
    active = [r for r in config.routes if r.active]
    group_id = config.kafka.group_id
    shared = [r for r in active if r.isolation == "shared"]
    groups = [(group_id, shared)] if shared else []
    groups += [(f"{group_id}.{r.name}", [r]) for r in active if r.isolation == "group"]
    return groups


_RESTART_SECTIONS = ("kafka", "sources", "schema_registry", "dead_letter_limit", "endpoint_store")

# What a route's lanes are made of: changing it while events are in flight would put
# two events of one key in flight (old lanes and new), so it needs a restart.
LaneShape = tuple[str, bool, int]


def _lane_shape(route: RouteConfig) -> LaneShape:
    return (route.ordering, route.batch is not None, route.batch.lanes if route.batch else 0)


def _lane_change(name: str, before: LaneShape, after: LaneShape) -> str:
    if before[0] != after[0]:
        return f"route {name!r}: ordering changed ({before[0]} → {after[0]}): restart to apply it"
    if before[1] != after[1]:
        turned = "on" if after[1] else "off"
        return f"route {name!r}: batch turned {turned}: restart to apply it"
    return f"route {name!r}: batch lanes changed ({before[2]} → {after[2]}): restart to apply it"


class Bridge:
    """One process: its group members, one HTTP sender, one dead-letter producer.
    ``directory``: the customer endpoints, for routes with ``endpoints:``; ``health``:
    what their deliveries' answers are told to (auto-disable, ``app/store.py``)."""

    def __init__(
        self,
        config: RoutesFile,
        settings: Settings,
        sender: Sender | None = None,
        directory: EndpointDirectory | None = None,
        problem: Callable[[], str | None] | None = None,
        health: HealthObserver | None = None,
    ):
        self.config = config
        self.settings = settings
        self.directory = directory
        self._problem = problem or (lambda: None)  # /readyz: why not ready beyond Kafka
        groups = _groups(config)
        if not groups:
            raise ValueError("no active route: nothing to consume")
        kafka = config.kafka
        producer_props = producer_properties(kafka)
        self.dead_letters = DeadLetterWriter(producer_properties(kafka, dead_letters=True))
        # what outlives a reload: route states (410 Gone) and the endpoint gates, whose
        # per-origin limits are shared by every route and every consumer group
        self.route_states = RouteStates()
        self.gates = Gates()
        self.gates.configure(config.routes)
        # one word for the process on "cannot reach Kafka", whatever the number of groups
        self.reach = Reachability(kafka.bootstrap_servers)
        self._lanes: dict[str, LaneShape] = {}
        self._note_lanes(config)
        # the main cluster's producer: retry topics and the delivery-attempt log
        self.producer = AckedProducer(producer_props, client_id="kafkahooks")
        self._admin_props = producer_props
        delivery_log = None
        if kafka.delivery_log_topic:
            delivery_log = DeliveryLog(self.producer, kafka.delivery_log_topic)
        # each member has its own in-flight limit; the connection pool serves them all
        self.sender = sender or make_sender(settings, settings.max_in_flight * len(groups))
        # finished offsets above the committed ones, for members with sparse topics
        self.progress: ProgressLog | None = None
        if any(sparse_topics(routes) for _, routes in groups):
            props = {"bootstrap.servers": kafka.bootstrap_servers, **kafka.properties}
            self.progress = ProgressLog(props, settings.progress_topic)
        self.members = [
            Member(
                group,
                routes,
                config,
                settings,
                self.sender,
                self.dead_letters,
                delivery_log,
                self.producer,
                states=self.route_states,
                gates=self.gates,
                reach=self.reach,
                directory=directory,
                health=health,
                progress=self.progress,
            )
            for group, routes in groups
        ]

    def _note_lanes(self, config: RoutesFile) -> None:
        """Remember each route's lane shape as first applied (for the life of the process:
        its old events may still be in flight after it was removed and added again)."""
        for route in config.routes:
            if route.active:
                self._lanes.setdefault(route.name, _lane_shape(route))

    def _refuse_restart_changes(self, config: RoutesFile) -> list[tuple[str, list[RouteConfig]]]:
        """Raise :class:`ReloadError` for a change that needs a restart; else the groups."""
        for section in _RESTART_SECTIONS:
            if getattr(config, section) != getattr(self.config, section):
                raise ReloadError(f"the {section} section changed: restart to apply it")
        groups = _groups(config)
        if [g for g, _ in groups] != [m.group_id for m in self.members]:
            raise ReloadError("routes moved between consumer groups (isolation): restart")
        for route in config.routes:
            before = self._lanes.get(route.name)
            if route.active and before is not None and before != _lane_shape(route):
                raise ReloadError(_lane_change(route.name, before, _lane_shape(route)))
        return groups

    async def apply(self, config: RoutesFile) -> None:
        """Hot reload: new routes for events not yet sent; in-flight ones finish as they are.
        Everything is checked and prepared before anything changes: a refused reload (a
        :class:`ReloadError`) leaves the running config whole."""
        groups = self._refuse_restart_changes(config)
        allow_local = self.settings.allow_local_targets
        try:
            tables = [
                RouteTable(routes, allow_local, self.route_states, self.directory)
                for _, routes in groups
            ]
            ready = [
                m.pipeline.prepare_routes(t) for m, t in zip(self.members, tables, strict=True)
            ]
        except ValueError as exc:  # a target the transport policy refuses, a schema file
            raise ReloadError(str(exc)) from None
        running = set(self.retry_topics())
        new_topics = [t for r in ready for t in r.parked_routes if t not in running]
        await create_topics(self._admin_props, new_topics)  # off the event loop, bounded
        for member, table, routes, (_, configs) in zip(
            self.members, tables, ready, groups, strict=True
        ):
            member.routes = table
            member.tracker.set_sparse(sparse_topics(configs))
            member.pipeline.replace_routes(routes)
            member.loop.subscribe(member.pipeline.topics)
        self.gates.configure(config.routes)
        self._note_lanes(config)
        self.config = config

    @property
    def stats(self) -> Stats:
        total = Stats()
        for member in self.members:
            s = member.pipeline.stats
            total.taken += s.taken
            total.delivered += s.delivered
            total.dead_lettered += s.dead_lettered
            total.filtered += s.filtered
            for route, counts in s.by_route.items():
                for outcome, n in counts.items():
                    total.count(route, outcome, n)
        return total

    @property
    def fatal(self) -> BaseException | None:
        """Why a member halted (``engine/halt.py``, the one place that stops): exit 1."""
        return next((m.pipeline.fatal for m in self.members if m.pipeline.fatal), None)

    def stop(self) -> None:
        for member in self.members:
            member.loop.stop()

    async def _run_member(self, member: Member) -> None:
        try:
            await member.loop.run()
        finally:
            self.stop()  # one member down (fatal or stopped): the process stops

    async def _open_progress(self) -> str | None:
        """Read the progress topic before any partition is assigned; why not, or None."""
        if self.progress is None:
            return None
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.progress.open)
        except StoreError as exc:  # cannot create or read it: nothing is consumed
            return f"progress topic {self.progress.topic!r}: {exc}"
        return None

    def retry_topics(self) -> list[str]:
        return [t for m in self.members for t in m.pipeline.topics if t not in m.routes.topics]

    async def run(self) -> RunResult:
        error: str | None = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_topics, self._admin_props, self.retry_topics())
        health = None
        if self.settings.http_port:
            health = HealthServer(
                lambda: [m.loop for m in self.members],
                self.settings.http_host,
                self.settings.http_port,
                stuck_after=self.settings.stall_bound,
                problem=self._problem,
            )
            await health.start()
        try:
            error = await self._open_progress()
            if error is None:
                results = await asyncio.gather(
                    *(self._run_member(m) for m in self.members), return_exceptions=True
                )
                failures = [r for r in results if isinstance(r, BaseException)]
                if failures:
                    log.error("bridge failed", exc_info=failures[0])
                    error = f"{type(failures[0]).__name__}: {failures[0]}"
        finally:
            if health is not None:
                await health.stop()
            await self.sender.aclose()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.dead_letters.close)
            await loop.run_in_executor(None, self.producer.close)
            if self.progress is not None:
                await loop.run_in_executor(None, self.progress.close)
        if self.fatal is not None:
            error = str(self.fatal)
        commits = sum(m.loop.commits for m in self.members)
        return RunResult(1 if error else 0, self.stats, commits, error)


def make_sender(settings: Settings, max_connections: int) -> Sender:
    """The one delivery client (``delivery/http1.py``); ``max_connections`` caps its sockets."""
    return Http1Sender(max_connections=max_connections, max_per_origin=settings.max_per_origin)


def install_signal_handlers(bridge: Bridge) -> None:
    """First SIGTERM/SIGINT: graceful stop.  A second one: exit at once."""
    loop = asyncio.get_running_loop()
    received = 0

    def handle(signum: int) -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info(
                "stopping: draining in-flight deliveries",
                extra={"signal": signal.Signals(signum).name},
            )
            bridge.stop()
        else:
            log.error("second signal: exiting now without draining")
            os._exit(130)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handle, sig)


async def run_bridge(
    config: RoutesFile,
    settings: Settings,
    path: str | None = None,
    early_signals: list[int] | None = None,
) -> RunResult:
    directories = EndpointDirectories(config, settings, status=True)
    try:  # the endpoint store is read to its end before any group is joined
        directory = await asyncio.get_running_loop().run_in_executor(None, directories.open)
    except StoreUnavailableError as exc:
        return RunResult(1, Stats(), 0, str(exc))
    except (KafkahooksError, ValueError) as exc:  # the store's topic or keys are wrong
        return RunResult(2, Stats(), 0, str(exc))
    try:
        store = directories.store
        problem = store.problem if store is not None else None
        endpoints = (directory, problem, directories.health)
        return await _run(config, settings, endpoints, path, early_signals)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, directories.close)


async def _run(
    config: RoutesFile,
    settings: Settings,
    endpoints: tuple[
        EndpointDirectory | None, Callable[[], str | None] | None, HealthObserver | None
    ],
    path: str | None,
    early_signals: list[int] | None,
) -> RunResult:
    directory, problem, health = endpoints
    try:
        bridge = Bridge(config, settings, directory=directory, problem=problem, health=health)
    except ValueError as exc:  # e.g. routes with endpoints: and no endpoint directory
        return RunResult(2, Stats(), 0, str(exc))
    install_signal_handlers(bridge)
    if early_signals:  # asked to stop while starting: stop before taking anything
        log.info("stopping: a signal arrived during start-up")
        bridge.stop()
    tune_gc()
    if path is None:
        return await bridge.run()
    reloader = Reloader(bridge, path, allow_local=settings.allow_local_targets)
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.request)
    watcher = asyncio.create_task(reloader.watch())
    try:
        return await bridge.run()
    finally:
        watcher.cancel()
