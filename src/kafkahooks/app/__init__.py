"""Wiring one bridge process: members, signals, hot reload, /metrics and health, process settings,
replay.

A lazy door (PEP 562): a name is imported from its module on first use, so that a
command that only checks a routes file (``kafkahooks check``) does not pay for the
bridge's imports.  ``__all__`` lists every name; ``_HOMES`` says where each lives
(``kafkahooks/lazy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkahooks.lazy import lazy_door

if TYPE_CHECKING:
    from kafkahooks.app.bridge import Bridge, endpoint_directory, run_bridge
    from kafkahooks.app.checks import AllowLocal, load_checked, sample_warnings
    from kafkahooks.app.replay import DeadRecord, Replayer
    from kafkahooks.app.settings import Settings

__all__ = [
    "AllowLocal",
    "Bridge",
    "DeadRecord",
    "Replayer",
    "Settings",
    "endpoint_directory",
    "load_checked",
    "run_bridge",
    "sample_warnings",
]

_HOMES = {
    "AllowLocal": "checks",
    "Bridge": "bridge",
    "DeadRecord": "replay",
    "Replayer": "replay",
    "Settings": "settings",
    "endpoint_directory": "bridge",
    "load_checked": "checks",
    "run_bridge": "bridge",
    "sample_warnings": "checks",
}


__getattr__ = lazy_door(__name__, globals(), _HOMES)
