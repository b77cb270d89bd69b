"""What an operator sees: metrics after a known run, health endpoints, the delivery log."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kafkahooks.demo.broker import free_port
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.receiver import Receiver, Reply, Request

Start = Callable[..., BridgeProcess]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _deliveries(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kafkahooks deliveries`` as an operator runs it."""
    command = [sys.executable, "-m", "kafkahooks.cli", "deliveries", "--config", str(config)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not in metrics")


def test_metrics_health_and_delivery_log_after_a_known_run(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    log_topic = unique("attempts")
    seen: dict[int, int] = {}

    def behaviour(request: Request) -> Reply:
        ident = request.json()["id"]
        seen[ident] = seen.get(ident, 0) + 1
        if ident == 3 and seen[ident] == 1:
            return Reply(503)
        return Reply(400 if ident == 4 else 200)

    receiver.behaviour = behaviour
    produce(bootstrap, topic, [(f"k{i}", {"event": "e", "id": i, "status": "s"}) for i in range(5)])
    config = routes_file(
        tmp_path / "r.yaml",
        bootstrap,
        group,
        [simple_route("calls", topic, receiver.url)],
        delivery_log_topic=log_topic,
    )
    port = free_port()
    bridge = start_bridge(
        config, {"KAFKAHOOKS_HTTP_PORT": str(port), "KAFKAHOOKS_HTTP_HOST": "127.0.0.1"}
    )
    wait_until(lambda: committed(bootstrap, group, topic) == [5], timeout=30)

    base = f"http://127.0.0.1:{port}"
    assert _get(f"{base}/healthz")[0] == 200
    assert _get(f"{base}/readyz")[0] == 200
    status, text = _get(f"{base}/metrics")
    assert status == 200
    assert _metric(text, "kafkahooks_deliveries_total", route="calls", outcome="delivered") == 4
    assert _metric(text, "kafkahooks_deliveries_total", route="calls", outcome="dead_lettered") == 1
    assert _metric(text, "kafkahooks_attempts_total", route="calls", status="2xx") == 4
    assert _metric(text, "kafkahooks_attempts_total", route="calls", status="5xx") == 1
    assert _metric(text, "kafkahooks_attempts_total", route="calls", status="4xx") == 1
    assert _metric(text, "kafkahooks_attempt_seconds_count", route="calls") == 6
    assert _metric(text, "kafkahooks_commits_total", mode="async") >= 1
    assert bridge.terminate() == 0

    retried = next(r for r in receiver.requests if r.json()["id"] == 3).headers["webhook-id"]
    out = _deliveries(config, "--route", "calls")
    assert out.returncode == 0, out.stderr
    assert "6 attempts, 4 succeeded, 2 failed" in out.stdout
    one = _deliveries(config, "--event-id", retried)
    assert "2 attempts, 1 succeeded, 1 failed" in one.stdout
    assert " 503 " in one.stdout and " 200 " in one.stdout
