"""``kafkahooks render``: the exact request a route would send, secrets masked."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkahooks.cli.main import main
from tests.support.receiver import Receiver, Reply

SIGNING_SECRET = "sign-me-7f3a9c"
API_KEY = "api-key-0d41e2"
ROUTES = """
kafka:
  bootstrap_servers: localhost:9092
routes:
  - name: calls
    topics: [calls.status]
    template:
      callId: "{{ key }}"
      status: "{{ value.data.status }}"
      who: "{{ value.data.caller }}"
      trace: "{{ headers.trace-id }}"
      meta: {eventId: "{{ event_id }}", offset: "{{ offset }}"}
    endpoint:
      url: https://hooks.example.test/calls?team=voice
      method: PUT
      headers: {x-team: voice}
      secret_headers: {x-api-key: "${API_KEY}"}
    signing:
      secret: ${SIGNING_SECRET}
      header: x-signature
"""
EVENT = {
    "key": "call-7",
    "topic": "calls.status",
    "partition": 2,
    "offset": 41,
    "timestamp": 1_700_000_000_000,
    "headers": {"trace-id": "t-99"},
    "value": {"event": "status-changed", "data": {"status": "ended", "caller": "Zoë"}},
}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("API_KEY", API_KEY)
    config = tmp_path / "routes.yaml"
    config.write_text(ROUTES, encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(EVENT), encoding="utf-8")
    return config, event


def _parse(out: str) -> tuple[str, dict[str, str], str]:
    head, _, body = out.partition("\n\n")
    request_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return request_line, headers, body.rstrip("\n")


def _render(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> str:
    config, event = files
    assert main(["render", "--config", str(config), "--route", "calls", "--event", str(event)]) == 0
    return capsys.readouterr().out


def test_render_prints_method_url_headers_and_body(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    request_line, headers, body = _parse(_render(files, capsys))
    assert request_line == "PUT https://hooks.example.test/calls?team=********"  # query values
    assert headers["content-type"] == "application/json"
    assert headers["x-team"] == "voice"
    assert headers["x-api-key"] == "********"
    assert headers["webhook-id"].startswith("evt_")
    payload = json.loads(body)
    assert payload == {
        "callId": "call-7",
        "status": "ended",
        "who": "Zoë",
        "trace": "t-99",
        "meta": {"eventId": headers["webhook-id"], "offset": 41},
    }
    # the printed body is the exact byte string that is signed
    expected = hmac.new(SIGNING_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    assert headers["x-signature"] == expected


def test_render_never_prints_secret_values(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _render(files, capsys)
    assert SIGNING_SECRET not in out
    assert API_KEY not in out


def test_the_event_id_is_stable_across_renders(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _parse(_render(files, capsys))[1]["webhook-id"]
    second = _parse(_render(files, capsys))[1]["webhook-id"]
    assert first == second


def test_unknown_route_is_a_readable_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, event = files
    with pytest.raises(SystemExit) as caught:
        main(["render", "--config", str(config), "--route", "nope", "--event", str(event)])
    assert caught.value.code == 2
    assert "no route 'nope'" in capsys.readouterr().err


def test_render_command_in_a_subprocess(files: tuple[Path, Path]) -> None:
    config, event = files
    env = {**os.environ, "SIGNING_SECRET": SIGNING_SECRET, "API_KEY": API_KEY}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kafkahooks.cli",
            "render",
            "--config",
            str(config),
            "--route",
            "calls",
            "--event",
            str(event),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("PUT https://hooks.example.test/calls?team=********\n")
    for stream in (done.stdout, done.stderr):
        assert SIGNING_SECRET not in stream and API_KEY not in stream


# -- what send-test prints of a receiver's answer and of a URL (issue 11, section 7) --------

HOOK_TOKEN = "T0KEN-in-the-path-5e1"
SEND_TEST_ROUTES = """
kafka:
  bootstrap_servers: localhost:9092
routes:
  - name: calls
    topics: [calls.status]
    template: {callId: "{{ key }}"}
    endpoint:
      url: ${RECEIVER}/${HOOK_TOKEN}?sig=${HOOK_TOKEN}
"""


def test_send_test_escapes_the_receivers_bytes_and_masks_the_url_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = b"\x1b[2J\x1b]0;pwned\x07\x1b[31mall good\r\xc2\x9b1mok\xe2\x80\xae"  # C1 CSI, RLO
    receiver = Receiver(lambda _: Reply(200, body=hostile))
    try:
        monkeypatch.setenv("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", "true")
        monkeypatch.setenv("RECEIVER", receiver.url)
        monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
        config = tmp_path / "routes.yaml"
        config.write_text(SEND_TEST_ROUTES, encoding="utf-8")
        event = tmp_path / "event.json"
        event.write_text(json.dumps(EVENT), encoding="utf-8")
        assert (
            main(["send-test", "--config", str(config), "--route", "calls", "--event", str(event)])
            == 0
        )
    finally:
        receiver.close()
    out = capsys.readouterr().out
    assert receiver.requests[0].path == f"/hooks/{HOOK_TOKEN}?sig={HOOK_TOKEN}"
    assert out.startswith(f"POST http://127.0.0.1:{receiver.port}/********/********?sig=********\n")
    assert HOOK_TOKEN not in out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\x9b" not in out
    assert "\u202e" not in out
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mall good\\x0d\\x9b1mok\\u202e" in out


def test_check_masks_the_url_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECEIVER", "https://hooks.example.test/hooks")
    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    config = tmp_path / "routes.yaml"
    config.write_text(SEND_TEST_ROUTES, encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert HOOK_TOKEN not in out
    assert "POST https://hooks.example.test/********/********?sig=********" in out
