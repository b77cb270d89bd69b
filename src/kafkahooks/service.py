"""Wire config and settings into a running bridge; signals; exit codes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from kafkahooks.config.models import RoutesFile
from kafkahooks.consumer import ConsumerLoop, consumer_config
from kafkahooks.deadletter import DeadLetterWriter
from kafkahooks.deliverer import Deliverer
from kafkahooks.delivery.sender import AiohttpSender, HttpxSender, Sender
from kafkahooks.offsets import OffsetTracker
from kafkahooks.pipeline import Pipeline, Stats
from kafkahooks.routing import RouteTable
from kafkahooks.settings import Settings

__all__ = ["Bridge", "RunResult", "run_bridge"]

log = logging.getLogger("kafkahooks.service")


@dataclass
class RunResult:
    exit_code: int
    stats: Stats
    commits: int
    error: str | None = None


class Bridge:
    """One consumer-group member: consumer loop + pipeline + sender + dead letters."""

    def __init__(self, config: RoutesFile, settings: Settings, sender: Sender | None = None):
        self.config = config
        self.settings = settings
        self.routes = RouteTable(config.routes)
        if not self.routes.topics:
            raise ValueError("no active route: nothing to consume")
        kafka = config.kafka
        base = {"bootstrap.servers": kafka.bootstrap_servers, **kafka.properties}
        dlq_props = {k: v for k, v in base.items() if not _consumer_only(k)}
        dlq_props.update(kafka.dead_letter_properties)
        self.dead_letters = DeadLetterWriter(dlq_props)
        self.sender = sender or make_sender(settings)
        self.tracker = OffsetTracker()
        self.deliverer = Deliverer(self.sender, settings.max_in_flight)
        self.pipeline = Pipeline(self.routes, self.deliverer, self.dead_letters, self.tracker)
        self.loop = ConsumerLoop(
            consumer_config(kafka.bootstrap_servers, kafka.group_id, kafka.properties),
            self.routes.topics,
            self.pipeline,
            self.tracker,
            batch=settings.poll_batch,
            window=settings.window,
            drain_timeout=settings.shutdown_timeout,
            commit_interval=settings.commit_interval,
            commit_every=settings.commit_every,
        )

    def stop(self) -> None:
        self.loop.stop()

    async def run(self) -> RunResult:
        error: str | None = None
        try:
            await self.loop.run()
        except Exception as exc:  # a fatal consumer error: report and exit non-zero
            log.exception("bridge failed")
            error = f"{type(exc).__name__}: {exc}"
        finally:
            await self.sender.aclose()
            await asyncio.get_running_loop().run_in_executor(None, self.dead_letters.close)
        if self.pipeline.fatal is not None:
            error = str(self.pipeline.fatal)
        return RunResult(1 if error else 0, self.pipeline.stats, self.loop.commits, error)


def make_sender(settings: Settings) -> Sender:
    if settings.http_client == "httpx":
        return HttpxSender(max_connections=settings.max_in_flight)
    return AiohttpSender(max_connections=settings.max_in_flight)


_CONSUMER_ONLY_PREFIXES = (
    "session.",
    "heartbeat.",
    "max.poll.",
    "auto.offset.",
    "partition.assignment",
    "group.",
    "fetch.",
    "isolation.",
    "enable.partition.eof",
    "queued.",
)


def _consumer_only(key: str) -> bool:
    return key.startswith(_CONSUMER_ONLY_PREFIXES)


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


async def run_bridge(config: RoutesFile, settings: Settings) -> RunResult:
    bridge = Bridge(config, settings)
    install_signal_handlers(bridge)
    return await bridge.run()
