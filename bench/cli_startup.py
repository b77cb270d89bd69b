"""Start-up time of each ``kafkahooks`` command: best of N wall-clock runs, and its CPU.

Every command's ``--help`` (argument parsing only), the commands an operator runs by
hand on a real example config (``check``, ``render``, ``secret generate``), and
``listen`` until its ready line, each as a fresh ``python -m kafkahooks.cli`` process::

    PYTHONPATH=src .venv/bin/python bench/cli_startup.py [runs] [--no-bytecode-cache]

The best of N runs is the figure that the shared machine's noise blurs least;
user+sys CPU of that process is printed beside it.  The example config needs
``TARGET_URL`` and ``WEBHOOK_SECRET``: harmless values are set here (nothing is sent).
The issue's aim: every command that does not talk to Kafka under 0.3 s.

Bytecode: an installed kafkahooks has its ``.pyc`` files, so by default the commands run
with a bytecode cache (in a temporary directory: nothing is written under ``src/``),
warmed by one untimed run of each.  ``--no-bytecode-cache`` measures a start that
compiles every kafkahooks module from source each time, as in an environment that sets
``PYTHONDONTWRITEBYTECODE`` over a source tree (about 0.05-0.1 s more per command).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "examples" / "demo.yaml")
ENV = {
    **os.environ,
    "TARGET_URL": "https://receiver.example/hooks",
    "WEBHOOK_SECRET": "bench-secret-0123456789abcdef0123",
}
HELP = [
    "run", "check", "render", "send-test", "secret", "dlq", "deliveries", "demo",
    "broker", "listen", "produce",
]  # fmt: skip
COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    *((f"{name} --help", [name, "--help"]) for name in HELP),
    ("check", ["check", "--config", CONFIG]),
    ("render", ["render", "--config", CONFIG, "--route", "call-status"]),
    ("secret generate", ["secret", "generate"]),
]
LISTEN = ["listen", "--port", "0", "--secret", "bench-secret-0123456789abcdef0123"]

Measure = Callable[[list[str], dict[str, str]], tuple[float, float]]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process running ``kafkahooks argv``."""
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started, _children_cpu() - cpu


def until_ready(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds to the first line of output, CPU of the whole process) of a
    command that keeps running (``listen``): stopped by SIGTERM once it printed."""
    cpu = _children_cpu()
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-m", "kafkahooks.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        assert process.stdout is not None
        process.stdout.readline()
        ready = time.perf_counter() - started
        process.terminate()
        process.wait(10)
    return ready, _children_cpu() - cpu


def _environment(bytecode_cache: bool, cache_dir: str) -> dict[str, str]:
    env = dict(ENV)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=5, help="runs per command")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile kafkahooks from source at every start (PYTHONDONTWRITEBYTECODE)",
    )
    args = parser.parse_args()
    cache = not args.no_bytecode_cache
    with tempfile.TemporaryDirectory(prefix="kafkahooks-pyc-") as cache_dir:
        env = _environment(cache, cache_dir)
        rows: list[tuple[str, list[str], Measure]] = [
            *((label, argv, once) for label, argv in COMMANDS),
            ("listen (ready)", LISTEN, until_ready),
        ]
        if cache:  # write the cache: the timed runs find it
            for _, argv, measure in rows:
                measure(argv, env)
        mode = "bytecode cache" if cache else "no bytecode cache"
        print(f"{'command':<22} {'best wall':>10} {'its CPU':>8}   (best of {args.runs}, {mode})")
        for label, argv, measure in rows:
            wall, cpu = min(measure(argv, env) for _ in range(args.runs))
            print(f"{label:<22} {wall:>9.3f}s {cpu:>7.3f}s")


if __name__ == "__main__":
    main()
