"""Start-up time of each ``kafkahooks`` command: best of N wall-clock runs, and its CPU.

Every command's ``--help`` (argument parsing only), and the three commands an
operator runs by hand on a real example config (``check``, ``render``,
``secret generate``), each as a fresh ``python -m kafkahooks.cli`` process::

    PYTHONPATH=src .venv/bin/python bench/cli_startup.py [runs]

The best of N runs is the figure that the shared machine's noise blurs least;
user+sys CPU of that process is printed beside it (load on other cores raises wall
time, not CPU).  The example config needs ``TARGET_URL`` and ``WEBHOOK_SECRET``:
harmless values are set here (nothing is sent).  The issue's aim: ``check``,
``render`` and ``secret`` under 0.3 s.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "examples" / "demo.yaml")
ENV = {
    **os.environ,
    "TARGET_URL": "https://receiver.example/hooks",
    "WEBHOOK_SECRET": "bench-secret-0123456789abcdef0123",
}
HELP = ["run", "check", "render", "send-test", "secret", "dlq", "deliveries", "demo"]
COMMANDS: list[tuple[str, list[str]]] = [
    *((f"{name} --help", [name, "--help"]) for name in HELP),
    ("check", ["check", "--config", CONFIG]),
    ("render", ["render", "--config", CONFIG, "--route", "call-status"]),
    ("secret generate", ["secret", "generate"]),
]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def once(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process running ``kafkahooks argv``."""
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", *argv],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started, _children_cpu() - cpu


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"{'command':<22} {'best wall':>10} {'its CPU':>8}   (best of {runs})")
    for label, argv in COMMANDS:
        wall, cpu = min(once(argv) for _ in range(runs))
        print(f"{label:<22} {wall:>9.3f}s {cpu:>7.3f}s")


if __name__ == "__main__":
    main()
