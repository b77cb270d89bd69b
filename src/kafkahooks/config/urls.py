"""Target URLs: what the routes file may say, and how kafkahooks prints one.

A route's URL may carry a credential (a token in the path, a signature in the
query: many webhook products work so), so a printed URL follows one rule:

* the origin (``scheme://host:port``) is shown as written: it is in DNS, the
  logs and the metrics anyway;
* every query value is masked (``?team=********``), names stay;
* every path segment that holds a character which came from a ``${VAR}`` is
  masked; when where the characters came from is unknown (a URL not read from a
  routes file), every path segment is.

``url: ${TARGET_URL}`` is therefore printed ``https://hooks.example.com/********``.
A GET route's payload query, appended after the configured URL, is event data
and is shown as rendered (that is what ``render`` is for).

At load a URL must be ``http(s)://`` with a host and a valid port, and may hold
no ``user:password@`` (it would reach logs and metric labels: use
``endpoint.auth``) and no ``#fragment`` (never sent, so a GET route's signed
query would sit behind it).  Errors never repeat the URL: it may hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = [
    "MASK",
    "URL_SAFE",
    "check_target_url",
    "is_plain_target",
    "plain_target",
    "shown_url",
    "splits_as_written",
    "through_authority",
]

MASK = "********"


def through_authority(url: str) -> str:
    """``url`` cut after its authority (``scheme://user@host:port``): no path, query or
    fragment.  ``urlsplit`` reads the same scheme and netloc from both (its netloc runs
    from the ``//`` after the scheme to the next ``/``, ``?`` or ``#``, and the cut is at
    such a character after the first ``//``), so what depends on those alone (origin,
    host, port, scheme checks) can be cached under this key: one entry per origin, not
    one per URL, which 100,000 customer endpoints with distinct paths would thrash."""
    found = _THROUGH_AUTHORITY(url)
    return url if found is None else found.group()


# the shortest prefix ending in "//", then up to a "/", "?" or "#": one match instead of
# four searches, as a customer endpoint's URL is cut on each attempt (0.54 against
# 1.41 µs with three finds, over ``bench/tenant_path.py``'s URLs)
_THROUGH_AUTHORITY = re.compile(r".*?//[^/?#]*", re.DOTALL).match


def plain_target(url: str, authority: str) -> str | None:
    """The request target (path and query) of ``url`` when it is sent exactly as written
    after ``authority`` (``through_authority(url)``): nothing ``urlsplit`` would strip, no
    fragment, nothing to quote, no empty query.  ``None`` otherwise (rare in practice):
    the HTTP client then works the target out (``delivery/http1.py``).  An endpoint
    version keeps it (``Endpoint.target``): 56 bytecodes per attempt saved."""
    rest = url[len(authority) :]
    if splits_as_written(url) and rest[:1] == "/" and rest[-1:] != "?" and is_plain_target(rest):
        return rest
    return None


def splits_as_written(url: str) -> bool:
    """Whether ``urlsplit`` strips nothing from ``url`` (no leading control character or
    space, no tab or line break), so its path starts where ``through_authority`` ends."""
    return url[:1] > " " and "\t" not in url and "\r" not in url and "\n" not in url


# RFC 3986 path and query characters, and "%" so existing escapes stay as written
URL_SAFE = "/?%:@!$&'()*+,;="
# a request target quote() would return unchanged: ASCII letters, digits, "_.-~" and URL_SAFE
_PLAIN_TARGET = re.compile(r"[A-Za-z0-9_.\-~/?%:@!$&'()*+,;=]*").fullmatch


def is_plain_target(target: str) -> bool:
    """Whether ``quote(target, safe=URL_SAFE)`` would return ``target`` unchanged."""
    return _PLAIN_TARGET(target) is not None


def check_target_url(value: str) -> str:
    """``value`` if it is a usable target URL, else ``ValueError`` naming the problem."""
    scheme = value.partition("://")[0] if "://" in value else ""
    if scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if "#" in value:
        raise ValueError(
            "must not hold a #fragment (it is never sent; a GET route's "
            "signed query would sit behind it)"
        )
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError(
            "must not hold user:password@ (it would reach logs and metric "
            "labels); use endpoint.auth or secret_headers"
        )
    if not parts.hostname:
        raise ValueError("has no host name")
    try:
        parts.port  # noqa: B018 - parsing it is the check (out of range, not a number)
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def shown_url(url: str, from_vars: Sequence[bool] | None = None) -> str:
    """``url`` as kafkahooks prints it (module docstring).  ``from_vars[i]``: whether
    character ``i`` came from a ``${VAR}``; ``None``: unknown, mask every segment."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    start = len(parts.scheme) + 3 + len(parts.netloc)  # after "scheme://netloc"
    path_end = start + len(parts.path)
    segments, at = [], start
    for segment in parts.path.split("/"):
        if segment and _from_var(from_vars, at, at + len(segment)):
            segments.append(MASK)
        else:
            segments.append(segment)
        at += len(segment) + 1
    shown = origin + "/".join(segments)
    if parts.query:
        pairs, at = [], path_end + 1
        for pair in parts.query.split("&"):
            name, eq, _ = pair.partition("=")
            hidden = _from_var(from_vars, at, at + len(name)) if from_vars is not None else False
            pairs.append(f"{MASK if hidden else name}{eq}{MASK if eq else ''}")
            at += len(pair) + 1
        shown += "?" + "&".join(pairs)
    return shown


def _from_var(from_vars: Sequence[bool] | None, start: int, end: int) -> bool:
    if from_vars is None:
        return True
    return any(from_vars[start:end])
