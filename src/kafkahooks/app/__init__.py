"""Wiring one bridge process: members, signals, hot reload, /metrics and health, process settings,
replay.
"""

from kafkahooks.app.bridge import Bridge, run_bridge
from kafkahooks.app.checks import load_checked
from kafkahooks.app.replay import DeadRecord, Replayer
from kafkahooks.app.settings import Settings

__all__ = [
    "Bridge",
    "DeadRecord",
    "Replayer",
    "Settings",
    "load_checked",
    "run_bridge",
]
