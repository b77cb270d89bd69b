"""The commands with a route that has ``endpoints:``: check, render, send-test, deliveries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kafkahooks.cli import deliveries
from kafkahooks.cli.main import main
from kafkahooks.kafka import ReadResult

KEY_MATERIAL = "k1:dGhpcy1pcy1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVz"
ROUTES = """
kafka: {bootstrap_servers: 127.0.0.1:9, delivery_log_topic: kafkahooks.deliveries}
endpoint_store: {topic: kafkahooks.endpoints, encryption_keys: "${KEYS}"}
routes:
  - name: calls
    topics: [calls.status]
    template: {status: "{{ value.data.status }}", id: "{{ event_id }}"}
    signing: {scheme: standard-webhooks}
    endpoints: {tenant: value.accountId}
"""
EVENT = {"value": {"event": "status-changed", "accountId": "acme", "data": {"status": "ended"}}}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("KEYS", KEY_MATERIAL)
    config = tmp_path / "routes.yaml"
    config.write_text(ROUTES, encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(EVENT), encoding="utf-8")
    return config, event


def test_check_says_the_route_goes_to_each_tenants_endpoints(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(files[0])]) == 0
    out = capsys.readouterr().out
    assert "POST each tenant's endpoints (tenant: value.accountId)" in out
    assert "dGhpcy1pcy1h" not in out  # the store's keys are never printed


def test_render_shows_the_request_for_a_placeholder_endpoint(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, event = files
    assert main(["render", "--config", str(config), "--route", "calls", "--event", str(event)]) == 0
    out = capsys.readouterr().out
    assert "placeholder endpoint" in out
    assert "POST https://tenant-endpoint.invalid/webhook" in out
    assert "webhook-signature: v1," in out
    body = out.rstrip("\n").rpartition("\n\n")[2]
    assert json.loads(body)["status"] == "ended"


def test_send_test_refuses_a_route_without_a_fixed_endpoint(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, event = files
    with pytest.raises(SystemExit) as exited:
        main(["send-test", "--config", str(config), "--route", "calls", "--event", str(event)])
    assert exited.value.code == 2
    assert "no fixed endpoint" in capsys.readouterr().err


def test_deliveries_shows_and_filters_by_endpoint(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[dict[str, Any]] = [
        {
            "event_id": "evt_1",
            "route": "calls",
            "attempt": 1,
            "status": 200,
            "latency_ms": 3.0,
            "error": None,
            "at": 1_718_000_000.0,
            "endpoint_id": "ep_A",
        },
        {
            "event_id": "evt_1",
            "route": "calls",
            "attempt": 1,
            "status": 503,
            "latency_ms": 4.0,
            "error": "HTTP 503",
            "at": 1_718_000_000.1,
            "endpoint_id": "ep_B",
        },
    ]
    monkeypatch.setattr(deliveries, "read_or_explain", lambda *a, **k: ReadResult(list(rows)))
    assert main(["deliveries", "--config", str(files[0]), "--endpoint", "ep_B"]) == 0
    out = capsys.readouterr().out
    assert "endpoint ep_B" in out and "ep_A" not in out
    assert "1 attempts, 0 succeeded, 1 failed" in out
