"""Row ``mq-bridge``: the native peer (Rust core), Kafka → JSON field mapping → HTTP POST.

No signing and no per-key order above concurrency 1; concurrency 64 and
batch_size 512 as measured in the issue.
Usage: mqbridge_route.py BOOTSTRAP GROUP URL TOPIC[,TOPIC...] [CONCURRENCY]
"""

from __future__ import annotations

import signal
import sys
import threading

import mq_bridge

MAPPING = {
    "event": "$.event",
    "type": "$.type",
    "companionId": "$.companionId",
    "callId": "$.callId",
    "seq": "$.seq",
    "data.status": "$.data.status",
    "data.startedAt": "$.data.startedAt",
    "data.endedAt": "$.data.endedAt",
    "data.endedReason": "$.data.endedReason",
    "data.phoneNumber": "$.data.phoneNumber",
    "data.messages": "$.data.messages",
}


def config(
    bootstrap: str, group: str, url: str, topics: str, concurrency: int
) -> dict[str, object]:
    return {
        "input": {"kafka": {"url": bootstrap, "topic": topics.split(","), "group_id": group}},
        "output": {
            "http": {"url": url, "custom_headers": {"content-type": "application/json"}},
            "middlewares": [{"transform": {"mapping": MAPPING}}],
        },
        "concurrency": concurrency,
        "batch_size": 512,
    }


def main(bootstrap: str, group: str, url: str, topics: str, concurrency: int) -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    route = mq_bridge.Route.from_config(
        config(bootstrap, group, url, topics, concurrency), name="bench"
    )
    route.start()
    stopped.wait()
    route.stop()
    print("{}", flush=True)


if __name__ == "__main__":
    bootstrap, group, url, topics, *rest = sys.argv[1:]
    main(bootstrap, group, url, topics, int(rest[0]) if rest else 64)
