"""Hot reload: on SIGHUP or a change of the routes file, validate and apply.

Validation is what ``kafkahooks check`` does (``app/checks.py``); the transport
policy is applied when the routes are compiled, before anything changes.

A valid file takes effect for events not yet sent (like an edit in the
Avoma or Audian console); in-flight deliveries finish with the route they
started with.  An invalid file is logged with its errors and the running
config stays.  Changes that cannot take effect safely while events are in
flight need a restart and are refused with that reason: the ``kafka``,
``sources``, ``schema_registry`` and ``dead_letter_limit`` sections, which
routes run in their own consumer group, and a route's ``ordering``, ``batch``
on or off, or batch ``lanes`` (two events of one key would be in flight).

Applying is a coroutine: creating new retry topics runs off the event loop.
Reloads never overlap (one watcher applies them one after the other).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from kafkahooks.app.checks import AllowLocal, load_checked
from kafkahooks.config import ConfigError, RoutesFile

__all__ = ["ReloadError", "Reloadable", "Reloader"]

log = logging.getLogger("kafkahooks.reload")


class ReloadError(Exception):
    """The new config is valid but cannot be applied without a restart."""


class Reloadable(Protocol):
    async def apply(self, config: RoutesFile) -> None: ...


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class Reloader:
    def __init__(
        self,
        target: Reloadable,
        path: str | Path,
        interval: float = 2.0,
        allow_local: AllowLocal = None,
    ) -> None:
        self.target = target
        self.path = Path(path)
        # given (the bridge passes its setting): refused targets are listed with every other
        # problem of the file; None leaves the transport policy to ``target.apply``
        self.allow_local = allow_local
        self.interval = interval
        self.applied = 0
        self.rejected = 0
        self._seen = _mtime(self.path)
        self._wake = asyncio.Event()

    def request(self) -> None:
        """Reload at the next opportunity (the SIGHUP handler calls this)."""
        self._wake.set()

    async def watch(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                current = _mtime(self.path)
                if current == self._seen:
                    continue
            self._wake.clear()
            self._seen = _mtime(self.path)
            await self.reload()

    async def reload(self) -> bool:
        try:
            config = load_checked(self.path, allow_local=self.allow_local)
            await self.target.apply(config)
        except (ConfigError, ReloadError) as exc:
            self.rejected += 1
            log.error(
                "reload rejected; the running config stays",
                extra={"file": str(self.path), "problems": str(exc).splitlines()},
            )
            return False
        except Exception:  # a bug here must not end the watcher, nor the bridge
            self.rejected += 1
            log.exception("reload failed; the running config stays")
            return False
        self.applied += 1
        log.info(
            "config reloaded",
            extra={"file": str(self.path), "routes": [r.name for r in config.routes]},
        )
        return True
