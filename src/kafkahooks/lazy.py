"""Lazy package doors (PEP 562): a package's public name is imported from its module on
first use, so a command that needs little (``kafkahooks check``) pays for little.

A package writes ``__getattr__ = lazy_door(__name__, globals(), _HOMES)``, where
``_HOMES`` maps each public name to the module that defines it; its ``__all__`` stays
complete, and its ``TYPE_CHECKING`` imports give the names their types.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_door"]


def lazy_door(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str]
) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # the next look-up is a plain global
        return value

    return __getattr__
