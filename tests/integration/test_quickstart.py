"""The README's quickstart, run as written: its ``sh quickstart`` block, in order, as shell
commands, on the fresh broker the block itself starts, until ``kafkahooks listen`` prints the
event as verified.

Only what cannot be the same here is changed: the ports 9092 and 8000 become free loopback
ports, ``. .venv/bin/activate`` puts this interpreter's ``kafkahooks`` on the PATH, and each
background (``&``) command's output goes to its own file, which the script waits to see
non-empty (each prints one line when it is ready) before the next command, as a reader does.
Everything listens on loopback; the whole run is bounded in time and every process it
started is stopped through the process group the test created.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```sh quickstart\n(.*?)^```", re.S | re.M)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def quickstart_commands() -> list[str]:
    """The commands of the README's quickstart block, in order (comments kept)."""
    found = BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md must hold exactly one ```sh quickstart block"
    return [line for line in found[0].splitlines() if line.strip()]


def runnable(commands: list[str], broker_port: int, receiver_port: int) -> str:
    """A bash script of ``commands``: ports swapped, background output to files, waits."""
    out = ["set -e"]
    for n, line in enumerate(commands):
        line = line.replace("9092", str(broker_port)).replace("8000", str(receiver_port))
        command = line.split("  #", 1)[0].rstrip()
        if command.endswith("&"):
            log = f"bg{n}.log"
            out.append(f"{command[:-1].rstrip()} > {log} 2>&1 &")
            out.append(f"for _ in $(seq 300); do [ -s {log} ] && break; sleep 0.1; done")
            out.append(f"[ -s {log} ] || {{ echo 'no output from: {command}' >&2; exit 1; }}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout's shape: the quickstart's routes file, and a ``.venv/bin/activate`` that
    puts a ``kafkahooks`` running this interpreter (and these sources) on the PATH."""
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "quickstart.yaml", tmp_path / "examples")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "kafkahooks"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kafkahooks.cli "$@"\n')
    shim.chmod(0o755)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "activate").write_text(f'export PATH="{bindir}:$PATH"\n')
    return tmp_path


@pytest.fixture
def session() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Shells started in their own process group; the group is stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        for sig, wait in ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.killpg(proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                continue
            break


def test_readme_quickstart_delivers_a_verified_event(
    workdir: Path, session: list[subprocess.Popen[bytes]]
) -> None:
    commands = quickstart_commands()
    assert any(c.startswith("kafkahooks broker") for c in commands)  # a fresh broker
    listen_at = next(i for i, c in enumerate(commands) if c.startswith("kafkahooks listen"))
    script = workdir / "quickstart.sh"
    script.write_text(runnable(commands, free_port(), free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKAHOOKS_")}
    for name in ("KAFKA_BOOTSTRAP", "TARGET_URL", "WEBHOOK_SECRET", "SESSION_TIMEOUT_MS"):
        env.pop(name, None)
    with (workdir / "script.out").open("wb") as output:
        proc = subprocess.Popen(
            ["bash", str(script)],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        session.append(proc)
        code = proc.wait(timeout=90)
    printed = (workdir / "script.out").read_text(errors="replace")
    assert code == 0, printed
    assert "produced 1 event to my.events" in printed

    listen_log = workdir / f"bg{listen_at}.log"
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = listen_log.read_text(errors="replace").splitlines()
        if any(" POST " in line for line in lines):
            break
        time.sleep(0.2)
    deliveries = [line for line in lines if " POST " in line]
    assert deliveries, "nothing arrived at kafkahooks listen:\n" + "\n".join(lines)
    first = deliveries[0]
    assert " POST /webhooks webhook-id=evt_" in first
    assert " verified body=" in first and "NOT verified" not in first
    assert '"type":"status-changed"' in first and '"key":"call-000001"' in first
