"""The receiver fails: a 15 s outage (503), then a receiver that accepts and never answers."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from kafkahooks.demo.broker import free_port
from tests.faults.fleet import Start, calls, committed_total, metrics_env
from tests.support.bridge import routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, produce, unique
from tests.support.ledger import Ledger
from tests.support.logs import log_records, logged
from tests.support.metrics import sample
from tests.support.procfs import open_sockets, rss_kib, threads
from tests.support.receiver import Receiver, Reply, Request


class Outage:
    """503 for ``seconds`` from the first request on, then 200."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began = 0.0  # time.time() of the first request
        self._lock = threading.Lock()

    def __call__(self, _: Request) -> Reply:
        with self._lock:
            if not self.began:
                self.began = time.time()
        return Reply(503) if self.active else Reply(200)

    @property
    def active(self) -> bool:
        return not self.began or time.time() < self.ends

    @property
    def ends(self) -> float:
        return self.began + self.seconds


@pytest.mark.timeout(180)
def test_receiver_outage_loses_nothing_holds_memory_and_keeps_the_group(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events, window, partitions = 3_000, 300, 4
    topic, group = create_topic(bootstrap, unique("outage"), partitions), unique("g")
    produce(bootstrap, topic, calls(0, events, keys=100))  # a backlog waits from the start
    outage = Outage(15.0)
    ledger = Ledger(outage)
    receiver.behaviour = ledger
    route = simple_route(
        "calls",
        topic,
        receiver.url,
        retry={"max_attempts": 50, "initial_backoff": 0.2, "max_backoff": 2, "jitter": 0.2},
    )
    # a loop that stopped polling while the window is full would be evicted within the outage
    config = routes_file(
        tmp_path / "r.yaml", bootstrap, group, [route], properties={"max.poll.interval.ms": 5000}
    )
    port = free_port()
    env = {"KAFKAHOOKS_WINDOW": str(window), "KAFKAHOOKS_MAX_IN_FLIGHT": "50", **metrics_env(port)}
    started = time.time()
    bridge = start_bridge(config, env)
    pid = bridge.proc.pid

    wait_until(
        lambda: (sample(port, "kafkahooks_window_events", group=group) or 0) >= window,
        timeout=30,
        interval=0.1,
    )
    filled_after = time.time() - started
    time.sleep(1.0)  # the first retries have run: what follows is steady state
    assert outage.active, "the window filled too late to watch the outage"
    baseline = peak = rss_kib(pid)
    samples = 0
    while outage.active:
        peak = max(peak, rss_kib(pid))
        samples += 1
        time.sleep(0.25)
    growth = (peak - baseline) / baseline
    rejected_during_outage = ledger.rejected

    wait_until(lambda: ledger.has_all(range(events)), timeout=90, interval=0.2)
    drained_after = time.time() - outage.ends
    wait_until(lambda: committed_total(bootstrap, group, topic, partitions) == events, timeout=15)
    assert bridge.terminate() == 0
    output = bridge.output()
    during = [r for r in log_records(output) if outage.began <= float(r["ts"]) <= outage.ends]
    evictions = [r for r in during if r["msg"] in ("partitions revoked", "partitions lost")]
    tally = ledger.tally(range(events))
    print(
        f"\nreceiver outage: outage_s={outage.seconds} window={window} "
        f"window_full_after_start_s={filled_after:.1f} rss_kib_baseline={baseline} "
        f"rss_kib_peak={peak} rss_growth={growth:.1%} rss_samples={samples} "
        f"503s={rejected_during_outage} backlog_drained_s={drained_after:.1f} "
        f"assignments={len(logged(output, 'partitions assigned'))} "
        f"evictions={len(evictions)} {tally.line()}"
    )
    assert tally.lost == 0
    assert growth < 0.10
    assert evictions == []
    assert len(logged(output, "partitions assigned")) == 1  # one assignment, never redone
    assert "max.poll" not in output and "poll interval" not in output


class Hang:
    """Accept, read the request, answer only after ``delay`` (longer than the client waits)
    for the first ``hangs`` attempts of each event; then answer at once and close."""

    def __init__(self, hangs: int, delay: float) -> None:
        self.hangs, self.delay = hangs, delay
        self.seen: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self.seen[request.headers["webhook-id"]] += 1
            attempt = self.seen[request.headers["webhook-id"]]
        # Connection: close, so the pool keeps nothing and sockets can be counted
        if attempt <= self.hangs:
            return Reply(200, headers={"connection": "close"}, delay=self.delay)
        return Reply(200, headers={"connection": "close"})


@pytest.mark.timeout(120)
def test_hanging_receiver_times_out_each_attempt_retries_and_leaks_nothing(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    timeout, backoff, hangs, events = 2.0, 0.3, 2, 5
    topic, group = create_topic(bootstrap, unique("hang")), unique("g")
    hang = Hang(hangs, delay=timeout + 3)
    receiver.behaviour = hang
    route = simple_route(
        "calls",
        topic,
        receiver.url,
        endpoint={"url": receiver.url, "timeout": timeout},
        retry={
            "max_attempts": hangs + 2,
            "initial_backoff": backoff,
            "multiplier": 1,
            "max_backoff": backoff,
            "jitter": 0,
        },
    )
    port = free_port()
    bridge = start_bridge(
        routes_file(tmp_path / "r.yaml", bootstrap, group, [route]), metrics_env(port)
    )
    pid = bridge.proc.pid
    hang.hangs = 0  # a warm-up event answered at once: every connection the bridge keeps is up
    produce(bootstrap, topic, calls(0, 1, keys=1))
    wait_until(lambda: committed_total(bootstrap, group, topic, 1) == 1, timeout=30)
    time.sleep(0.5)
    sockets_before, threads_before = open_sockets(pid), threads(pid)

    hang.hangs = hangs
    produce(bootstrap, topic, calls(1, events, keys=events))  # distinct keys: all at once
    receiver.wait_count(1 + events)  # every event's first attempt hangs now
    sockets_hanging = open_sockets(pid)
    wait_until(lambda: committed_total(bootstrap, group, topic, 1) == 1 + events, timeout=60)
    counted: list[int] = []  # counted before any /metrics scrape adds a connection of its own

    def sockets_back() -> bool:
        counted.append(open_sockets(pid))
        return counted[-1] <= sockets_before

    wait_until(sockets_back, timeout=10, interval=0.1)
    sockets_after, threads_after = counted[-1], threads(pid)
    in_flight = sample(port, "kafkahooks_in_flight")
    window = sample(port, "kafkahooks_window_events", group=group)
    assert bridge.terminate() == 0

    arrivals: dict[str, list[float]] = defaultdict(list)
    for request in receiver.requests[1:]:
        arrivals[request.headers["webhook-id"]].append(request.at)
    # an attempt ends at the timeout; the next one starts a backoff later
    durations = [
        round(b - a - backoff, 2)
        for times in arrivals.values()
        for a, b in itertools.pairwise(times)
    ]
    print(
        f"\nhanging receiver: timeout_s={timeout} events={events} "
        f"attempts_per_event={sorted(len(t) for t in arrivals.values())} "
        f"attempt_durations_s={durations} sockets_before={sockets_before} "
        f"sockets_after={sockets_after} sockets_while_hanging={sockets_hanging} "
        f"threads_before={threads_before} threads_after={threads_after} "
        f"in_flight_after={in_flight} window_after={window}"
    )
    assert len(arrivals) == events
    assert all(len(times) == hangs + 1 for times in arrivals.values())  # retried, then delivered
    assert all(abs(d - timeout) <= 1.0 for d in durations)
    assert sockets_hanging >= sockets_before + events  # the hanging attempts were counted
    assert sockets_after <= sockets_before
    assert in_flight == 0 and window == 0
