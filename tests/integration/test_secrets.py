"""No configured secret shows up in logs (at DEBUG), in check/render/send-test output or in
dead-letter headers."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkahooks.cli.main import main
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, read_topic, unique
from tests.support.receiver import Receiver, Reply

SECRETS = {
    "signing": "sign-secret-primary-7c1",
    "signing_old": "sign-secret-previous-2b9",
    "header": "secret-header-value-d44",
    "password": "basic-password-e18",
    "token": "bearer-token-a5f",
    "client_secret": "oauth-client-secret-93c",
    "whsec": "whsec_" + base64.b64encode(b"standard-webhooks-key-bytes-0001").decode(),
}


def _routes(topic: str, url: str, token_url: str) -> list[dict[str, object]]:
    s = SECRETS
    return [
        simple_route("basic", topic, url, endpoint={
            "url": url, "timeout": 5, "secret_headers": {"x-api-key": s["header"]},
            "auth": {"type": "basic", "username": "acme", "password": s["password"]}},
            signing={"secrets": [s["signing"], s["signing_old"]]}),
        simple_route("bearer", topic, url, endpoint={
            "url": url, "timeout": 5, "auth": {"type": "bearer", "token": s["token"]}},
            signing={"scheme": "standard-webhooks", "secret": s["whsec"]}),
        simple_route("oauth", topic, url, endpoint={
            "url": url, "timeout": 5,
            "auth": {"type": "oauth2", "token_url": token_url, "client_id": "c",
                     "client_secret": s["client_secret"]}},
            signing={"scheme": "audian", "secret": s["signing"]}),
    ]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with contextlib.suppress(SystemExit):
        main(list(args))
    out = capsys.readouterr()
    return out.out + out.err


def _leaks(text: str) -> list[str]:
    forms = dict(SECRETS)
    forms["basic"] = base64.b64encode(f"acme:{SECRETS['password']}".encode()).decode()
    forms["whsec_key"] = SECRETS["whsec"].removeprefix("whsec_")
    return [name for name, value in forms.items() if value in text]


def test_no_secret_in_logs_cli_output_or_dead_letters(
    bootstrap: str, receiver: Receiver, tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", "true")
    receiver.behaviour = lambda _: Reply(400, body=b'{"error":"rejected"}')
    tokens = Receiver(lambda _: Reply(200, body=b'{"access_token":"t","expires_in":60}'))
    try:
        topic, group = create_topic(bootstrap, unique("secrets")), unique("g")
        config = routes_file(tmp_path / "r.yaml", bootstrap, group,
                             _routes(topic, receiver.url, tokens.url))
        outputs = [_cli(capsys, "check", "--config", str(config))]
        for route in ("basic", "bearer", "oauth"):
            outputs.append(_cli(capsys, "render", "--config", str(config), "--route", route,
                                "--event-type", "status-changed"))
            outputs.append(_cli(capsys, "send-test", "--config", str(config), "--route", route))
        assert "← HTTP 400" in outputs[-1] and "authorization: ********" in outputs[-1]
        assert "x-api-key: ********" in outputs[1]

        produce(bootstrap, topic, [("k", {"event": "status-changed", "id": 1, "status": "x"})])
        bridge = start_bridge(config, {"KAFKAHOOKS_LOG_LEVEL": "DEBUG"})
        dead = read_topic(bootstrap, f"{topic}.dlq", 3, timeout=30)
        wait_until(lambda: committed(bootstrap, group, topic) == [1], timeout=15)
        assert bridge.terminate() == 0
    finally:
        tokens.close()
    assert len(dead) == 3
    headers = "\n".join(f"{k}={v!r}" for m in dead for k, v in (m.headers() or []))
    assert _leaks(headers) == []
    assert _leaks(bridge.output()) == []
    for output in outputs:
        assert _leaks(output) == [], output
    # the secrets did reach the receiver where they belong
    sent = receiver.requests
    assert any(r.headers.get("x-api-key") == SECRETS["header"] for r in sent)
    assert any(r.headers.get("authorization") == f"Bearer {SECRETS['token']}" for r in sent)
