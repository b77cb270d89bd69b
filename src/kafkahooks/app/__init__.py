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
    from kafkahooks.app.bridge import Bridge, run_bridge
    from kafkahooks.app.checks import AllowLocal, load_checked, sample_warnings
    from kafkahooks.app.deadrecord import DeadRecord
    from kafkahooks.app.gctune import collector_paused
    from kafkahooks.app.replay import Replayer
    from kafkahooks.app.settings import Settings
    from kafkahooks.app.store import (
        EndpointDirectories,
        EndpointStore,
        StoreKeyError,
        open_store,
        store_properties,
    )

__all__ = [
    "AllowLocal",
    "Bridge",
    "DeadRecord",
    "EndpointDirectories",
    "EndpointStore",
    "Replayer",
    "Settings",
    "StoreKeyError",
    "collector_paused",
    "load_checked",
    "open_store",
    "run_bridge",
    "sample_warnings",
    "store_properties",
]

_HOMES = {
    "AllowLocal": "checks",
    "Bridge": "bridge",
    "DeadRecord": "deadrecord",
    "EndpointDirectories": "store",
    "collector_paused": "gctune",
    "EndpointStore": "store",
    "Replayer": "replay",
    "Settings": "settings",
    "load_checked": "checks",
    "open_store": "store",
    "run_bridge": "bridge",
    "sample_warnings": "checks",
    "store_properties": "store",
    "StoreKeyError": "store",
}


__getattr__ = lazy_door(__name__, globals(), _HOMES)
