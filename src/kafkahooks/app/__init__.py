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
    from kafkahooks.app.store import (
        STORE_TIMEOUT,
        keyring_of,
        open_store,
        store_of,
        store_properties,
        store_section,
    )

__all__ = [
    "STORE_TIMEOUT",
    "AllowLocal",
    "Bridge",
    "DeadRecord",
    "Replayer",
    "Settings",
    "endpoint_directory",
    "keyring_of",
    "load_checked",
    "open_store",
    "run_bridge",
    "sample_warnings",
    "store_of",
    "store_properties",
    "store_section",
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
    "STORE_TIMEOUT": "store",
    "keyring_of": "store",
    "open_store": "store",
    "store_of": "store",
    "store_properties": "store",
    "store_section": "store",
}


__getattr__ = lazy_door(__name__, globals(), _HOMES)
