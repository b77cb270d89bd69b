"""``${VAR}`` / ``${VAR:-default}`` interpolation over a parsed YAML tree.

Interpolation runs after YAML parsing, on string scalars only, so a value
from the environment can never change the document's structure.  ``$${``
escapes a literal ``${``.  Template placeholders use ``{{ }}`` and are left
untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["InterpolationError", "interpolate", "interpolate_marked"]

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class InterpolationError(ValueError):
    def __init__(self, path: tuple[str | int, ...], variable: str) -> None:
        self.path = path
        self.variable = variable
        super().__init__(f"environment variable {variable} is not set and has no default")


def _pieces(
    text: str,
    env: Mapping[str, str],
    path: tuple[str | int, ...],
    unset: list[InterpolationError] | None = None,
) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, came from a variable)``.  An unset variable raises,
    or, when ``unset`` is given, is noted there and stands as an empty string."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in _VAR.finditer(text):
        pieces.append((text[at : match.start()], False))
        at = match.end()
        if match.group(0) == "$${":
            pieces.append(("${", False))
            continue
        name, default = match.group(1), match.group(2)
        if name in env:
            pieces.append((env[name], True))
        elif default is not None:
            pieces.append((default, True))
        elif unset is None:
            raise InterpolationError(path, name)
        else:
            unset.append(InterpolationError(path, name))
            pieces.append(("", True))
    pieces.append((text[at:], False))
    return pieces


def _substitute(
    text: str,
    env: Mapping[str, str],
    path: tuple[str | int, ...],
    unset: list[InterpolationError] | None,
) -> str:
    return "".join(piece for piece, _ in _pieces(text, env, path, unset))


def interpolate_marked(text: str, env: Mapping[str, str]) -> tuple[str, tuple[bool, ...]]:
    """``text`` interpolated, and for each character whether it came from a variable
    (a URL is printed with those parts masked: :mod:`kafkahooks.config.urls`)."""
    pieces = _pieces(text, env, ())
    marks = tuple(flag for piece, flag in pieces for _ in piece)
    return "".join(piece for piece, _ in pieces), marks


def interpolate(
    node: Any,
    env: Mapping[str, str],
    path: tuple[str | int, ...] = (),
    unset: list[InterpolationError] | None = None,
) -> Any:
    """Return a copy of ``node`` with every string scalar interpolated.

    An unset variable without a default raises :class:`InterpolationError`; when
    ``unset`` is given, every one is collected there instead (and reads as ``""``),
    so that a file's other problems can be reported in the same pass.
    """
    if isinstance(node, str):
        return _substitute(node, env, path, unset) if "$" in node else node
    if isinstance(node, dict):
        return {k: interpolate(v, env, (*path, str(k)), unset) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, (*path, i), unset) for i, v in enumerate(node)]
    return node
