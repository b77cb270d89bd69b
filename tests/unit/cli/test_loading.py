"""Every command loads a routes file the same way: checked, or exit 2 saying why.

The load-time checks that need runtime code (templates compile, schema files
parse) live outside ``config/`` (``app/checks.py``); these tests prove that
every command, and a hot reload, still refuses a file for them, in the same
words, and that a wrong route name is answered with the routes there are.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kafkahooks.telemetry
from kafkahooks.app.reload import Reloader
from kafkahooks.cli.main import main
from kafkahooks.config import RoutesFile

ROUTES = """
kafka:
  bootstrap_servers: localhost:9092
  delivery_log_topic: kafkahooks.deliveries
sources:
  calls.status:
    value: {format: avro, schema: nowhere.avsc}
routes:
  - name: calls
    topics: [calls.status]
    template: {status: "{{ data.status }}"}
    endpoint: {url: "https://hooks.example.test/in"}
  - name: audit
    topics: [calls.status]
    template: {id: "{{ value.id }}"}
    endpoint: {url: "https://hooks.example.test/audit"}
"""
TEMPLATE_PROBLEM = "route 'calls' → template: field status: unknown placeholder root 'data'"
GOOD = ROUTES.replace("{{ data.status }}", "{{ value.data.status }}").replace(
    "sources:\n  calls.status:\n    value: {format: avro, schema: nowhere.avsc}\n", ""
)
# (the command's words, its other arguments); each also gets ``--config``
COMMANDS = [
    (["check"], []),
    (["render"], ["--route", "calls", "--event-type", "status-changed"]),
    (["send-test"], ["--route", "calls", "--event-type", "status-changed"]),
    (["deliveries"], []),
    (["dlq", "replay"], ["--route", "calls"]),
]


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_logging_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    # dlq replay configures the root logger (it imports setup_logging when it runs);
    # pytest's capture must keep it
    monkeypatch.setattr(kafkahooks.telemetry, "setup_logging", lambda *_: None)


@pytest.mark.parametrize(("words", "rest"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_command_refuses_a_file_whose_templates_or_schemas_are_wrong(
    words: list[str], rest: list[str], bad: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*words, "--config", str(bad), *rest])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid config:\n")
    assert f"{bad}: {TEMPLATE_PROBLEM}" in err
    schema = bad.parent / "nowhere.avsc"
    assert f"{bad}: sources.calls.status.value: {schema}: no such schema file" in err


def test_run_refuses_such_a_file_before_it_starts(bad: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{bad}: {TEMPLATE_PROBLEM}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reload_refuses_such_a_file_and_keeps_the_running_config(bad: Path) -> None:
    applied: list[RoutesFile] = []

    class Target:
        async def apply(self, config: RoutesFile) -> None:
            applied.append(config)

    reloader = Reloader(Target(), bad)
    assert asyncio.run(reloader.reload()) is False
    assert applied == [] and reloader.rejected == 1


@pytest.mark.parametrize("words", [["render"], ["send-test"], ["dlq", "replay"]], ids=" ".join)
def test_an_unknown_route_is_answered_with_the_routes_there_are(
    words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(SystemExit) as caught:
        main([*words, "--config", str(path), "--route", "nope"])
    assert caught.value.code == 2
    assert f"{path}: no route 'nope' (routes: calls, audit)" in capsys.readouterr().err
