"""The README's demo commands, as a user runs them: each ends in "result OK", exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _demo(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_demo_delivers_every_event_verified() -> None:
    out = _demo("--events", "200")
    assert re.search(r"signatures verified\s+200\s+rejected 0", out), out
    assert re.search(r"result\s+OK", out), out


def test_the_endpoints_demo_registers_with_the_cli_and_each_customer_gets_only_its_own() -> None:
    out = _demo("--endpoints", "--events", "120")
    assert out.count("$ kafkahooks endpoints create") == 3
    rows = re.findall(r"^\s+(cmp_\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
    assert len(rows) == 3, out
    assert sum(int(r[1]) for r in rows) == 120
    assert all(r[1] == r[2] and r[3] == "0" and r[4] == "0" for r in rows), rows
    assert re.search(r"result\s+OK", out), out
    # the management API served beside it: its URL, a demo admin token, curl examples, and
    # the first tenant's endpoint read through it with its delivery stats
    assert re.search(r"management API: http://127\.0\.0\.1:\d+", out), out
    assert re.search(r"admin token \(demo only, shown once\): kht_demo_\w+", out), out
    assert 'curl -s -H "Authorization: Bearer kht_demo_' in out
    assert re.search(r"via the API: cmp_acme endpoint ep_\w+ enabled=True; 24 h: 40 delivered", out)
