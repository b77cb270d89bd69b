"""Run ``kafkahooks run`` as a real subprocess, as an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.kafka import GROUP_TIMINGS


def routes_file(
    path: Path,
    bootstrap: str,
    group: str,
    routes: list[dict[str, Any]],
    properties: dict[str, Any] | None = None,
    **kafka: Any,
) -> Path:
    doc = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "properties": {**GROUP_TIMINGS, **(properties or {})},
            **kafka,
        },
        "routes": routes,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def simple_route(
    name: str, topic: str, url: str, secret: str = "test-secret", **overrides: Any
) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": name,
        "topics": [topic],
        "template": {
            "event": "{{ value.event }}",
            "id": "{{ value.id }}",
            "status": "{{ value.status }}",
            "key": "{{ key }}",
            "eventId": "{{ event_id }}",
        },
        "endpoint": {"url": url, "timeout": 5},
        "signing": {"secret": secret, "header": "x-signature"},
        "retry": {"max_attempts": 3, "initial_backoff": 0.05, "max_backoff": 0.2, "jitter": 0.01},
    }
    route.update(overrides)
    return route


class BridgeProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None, log: Path | None = None):
        self.log_path = log or config.with_suffix(".log")
        self._log = self.log_path.open("ab")
        full_env = {
            **os.environ,
            "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
            "KAFKAHOOKS_SHUTDOWN_TIMEOUT": "5",
            "KAFKAHOOKS_COMMIT_INTERVAL": "0.2",
            "KAFKAHOOKS_HTTP_PORT": "0",  # tests that scrape metrics pick a free port
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kafkahooks.cli", "run", "--config", str(config)],
            env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
