"""Row ``hand-written``: the bar for "a framework worth using".

A compact concurrent loop: aiohttp, per-key chains, 200 in flight,
finished-prefix commits once a second; no retries, dead letters or templates.
Usage: handwritten_loop.py BOOTSTRAP GROUP URL TOPIC[,TOPIC...] [IN_FLIGHT]
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import aiohttp
from confluent_kafka import Consumer, Message, TopicPartition
from handmade import body, headers


async def main(bootstrap: str, group: str, url: str, topics: str, in_flight: int) -> None:
    loop, kafka = asyncio.get_running_loop(), ThreadPoolExecutor(1)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000}  # fmt: skip
    consumer = Consumer(conf)
    await loop.run_in_executor(kafka, consumer.subscribe, topics.split(","))
    slots, chains = asyncio.Semaphore(in_flight), dict[Any, asyncio.Task[None]]()
    taken: dict[tuple[str, int], deque[int]] = defaultdict(deque)
    done: set[tuple[str, int, int]] = set()
    commits, last_commit = 0, time.monotonic()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight))

    async def deliver(msg: Message, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # the previous event of this key finished
        source = f"{msg.topic()}/{msg.partition()}@{msg.offset()}"
        payload = body(json.loads(msg.value() or b"{}"), (msg.key() or b"").decode(), source)
        try:  # no retries: a failed event stays unfinished and holds the commit back
            async with session.post(url, data=payload, headers=headers(payload, source)) as resp:
                await resp.read()
                if resp.status < 300:
                    done.add((msg.topic(), msg.partition(), msg.offset()))  # type: ignore[arg-type]
        finally:
            slots.release()

    def forget(key: Any, task: asyncio.Task[None]) -> None:
        if chains.get(key) is task:  # the chain's last event finished
            del chains[key]

    def commit_prefix() -> None:
        nonlocal commits
        offsets = []
        for (topic, partition), queue in taken.items():
            last = None
            while queue and (topic, partition, queue[0]) in done:
                last = queue.popleft()
                done.discard((topic, partition, last))
            if last is not None:
                offsets.append(TopicPartition(topic, partition, last + 1))
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)
            commits += 1

    while not stop.is_set():
        for msg in await loop.run_in_executor(kafka, consumer.consume, 500, 0.1):
            if msg.error():
                continue
            await slots.acquire()
            taken[(msg.topic(), msg.partition())].append(msg.offset())  # type: ignore[index,arg-type]
            key = msg.key()
            task = chains[key] = asyncio.create_task(deliver(msg, chains.get(key)))
            task.add_done_callback(partial(forget, key))
        if time.monotonic() - last_commit >= 1.0:
            last_commit = time.monotonic()
            await loop.run_in_executor(kafka, commit_prefix)
    if chains:
        await asyncio.wait(list(chains.values()), timeout=10)
    await loop.run_in_executor(kafka, commit_prefix)
    await session.close()
    print(json.dumps({"commits": commits}), flush=True)


if __name__ == "__main__":
    bootstrap, group, url, topics, *rest = sys.argv[1:]
    asyncio.run(main(bootstrap, group, url, topics, int(rest[0]) if rest else 200))
