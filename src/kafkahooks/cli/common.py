"""What the commands share: load a routes file, pick a route, or exit 2 saying why.

Exit status 2 is bad usage: a routes file that does not load or pass its checks
(``app/checks.py``, the same as ``kafkahooks check`` and a hot reload apply), or
a route name the file does not have (the message lists the names it has).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kafkahooks.app import AllowLocal
    from kafkahooks.config import RouteConfig, RoutesFile

# The routes-file code is imported when a file is loaded, not here: ``usage_error``
# alone (``secret generate``) starts without it.

__all__ = ["allow_local_switch", "load_or_exit", "route_or_exit", "usage_error", "warn_samples"]


def usage_error(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def allow_local_switch() -> bool:
    """The process's ``KAFKAHOOKS_ALLOW_LOCAL_TARGETS`` (read when first needed)."""
    from kafkahooks.app import Settings

    return Settings().allow_local_targets


def load_or_exit(path: str, allow_local: AllowLocal = None) -> RoutesFile:
    """The checked routes file at ``path``; exit 2 with its problems.  ``allow_local``
    (the process's ``KAFKAHOOKS_ALLOW_LOCAL_TARGETS``): check the transport policy of
    every active route too, for the commands that send (``run``, ``send-test``) and
    ``check``."""
    from kafkahooks.app import load_checked
    from kafkahooks.config import ConfigError

    try:
        return load_checked(path, allow_local=allow_local)
    except ConfigError as exc:
        usage_error(f"invalid config:\n{exc}")


def warn_samples(routes: Iterable[RouteConfig], source: str) -> None:
    """Print, to stderr, every placeholder path that no built-in sample event of its
    route has (a likely typo); advice only: the exit status does not change."""
    from kafkahooks.app import sample_warnings

    for warning in sample_warnings(routes):
        print(f"warning: {source}: {warning}", file=sys.stderr)


def route_or_exit(config: RoutesFile, name: str, source: str) -> RouteConfig:
    """The route named ``name`` in ``config`` (read from ``source``); exit 2 naming the
    routes there are."""
    from kafkahooks.config import pick_route

    try:
        return pick_route(config.routes, name)
    except LookupError as exc:
        usage_error(f"{source}: {exc}")
