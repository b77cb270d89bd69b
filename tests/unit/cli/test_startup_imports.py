"""The commands that do not talk to Kafka or send a request import neither the Kafka
client nor the HTTP stack, the metrics, the retry loop or the bridge.

That is what made every command take about a second to start (issue 14): an operator
runs ``check``, ``render`` and ``--help`` by hand and waits for each.  Each case runs
the command in a fresh interpreter and looks at ``sys.modules`` afterwards (no timing:
``bench/cli_startup.py`` prints the times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DEMO = str(EXAMPLES / "demo.yaml")

# What none of these commands needs (the example routes file is JSON only: no Avro);
# together they are about half a second of start-up.
HEAVY = [
    "aiohappyeyeballs",
    "aiohttp",
    "confluent_kafka",
    "fastavro",
    "httptools",
    "prometheus_client",
    "tenacity",
    "kafkahooks.app.bridge",
    "kafkahooks.app.replay",
    "kafkahooks.delivery.http1",
    "kafkahooks.engine",
    "kafkahooks.kafka",
    "kafkahooks.telemetry.metrics",
    "fastapi",
    "uvicorn",
    "kafkahooks.api.app",
]

HELP = [
    "run",
    "check",
    "render",
    "send-test",
    "secret",
    "dlq",
    "deliveries",
    "demo",
    "broker",
    "listen",
    "produce",
    "endpoints",
    "api",
]
COMMANDS = [
    *([name, "--help"] for name in HELP),
    ["--help"],
    ["check", "--config", DEMO],
    ["render", "--config", DEMO, "--route", "call-status"],
    ["secret", "generate"],
]


def _imported_after(argv: list[str]) -> tuple[int, list[str], str]:
    """(exit status, the ``HEAVY`` modules loaded after ``kafkahooks argv`` ran, its
    output)."""
    code = (
        "import json, sys\n"
        "from kafkahooks.cli.main import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    env = {
        **os.environ,
        "TARGET_URL": "https://receiver.example/hooks",
        "WEBHOOK_SECRET": "startup-test-secret-0123456789abcdef",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    code, loaded = json.loads(done.stdout.splitlines()[-1])
    return code, loaded, done.stdout + done.stderr


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_command_that_does_not_send_imports_no_runtime(argv: list[str]) -> None:
    code, loaded, output = _imported_after(argv)
    assert code == 0, output  # it ran (and did its work) ...
    assert loaded == [], output  # ... without them


def test_check_and_render_did_their_work() -> None:
    """(so that the cases above do not pass by failing early)"""
    _, _, checked = _imported_after(["check", "--config", DEMO])
    assert f"{DEMO}: OK" in checked
    _, _, rendered = _imported_after(["render", "--config", DEMO, "--route", "call-status"])
    assert "POST https://receiver.example/" in rendered
    assert "webhook-signature" in rendered.lower() or "x-signature" in rendered.lower()


def test_listen_starts_without_kafka_or_the_demo_bridge() -> None:
    """``listen`` is a receiver: it is ready (its first line printed) with none of them."""
    argv = ["listen", "--port", "0", "--secret", "startup-test-secret-0123456789abcdef"]
    code = (
        "import io, json, os, sys\n"
        f"heavy = {HEAVY!r}\n"
        "class ReadyLine(io.TextIOBase):\n"
        "    def write(self, text):\n"
        "        if text.startswith('listening on'):\n"
        "            loaded = sorted(m for m in heavy if m in sys.modules)\n"
        "            sys.__stdout__.write(json.dumps([text, loaded]) + '\\n')\n"
        "            sys.__stdout__.flush()\n"
        "            os._exit(0)\n"
        "        return len(text)\n"
        "sys.stdout = ReadyLine()\n"
        "from kafkahooks.cli.main import main\n"
        f"main({argv!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    line, loaded = json.loads(done.stdout.splitlines()[-1])
    assert line.startswith("listening on http://127.0.0.1:")
    assert loaded == [], done.stdout + done.stderr
