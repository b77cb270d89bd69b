"""The write-time check of an endpoint's URL: the transport guard, plus one name lookup.

The rules (issue 17): ``https://`` only; a host that is a non-public address in any
spelling is refused by the guard (``delivery.check_url``); a name is looked up once
and refused if **any** address it resolves to is not public (``delivery.refuse``, the
check the HTTP client makes at every connect); a name that does not resolve (yet) is
accepted, since the guard checks every address again at delivery.  With
``KAFKAHOOKS_ALLOW_LOCAL_TARGETS=true`` only the URL's shape is checked.

The resolver is injected: tests pass a stub and never look anything up.
Invariant: a refusal says "not a public address" and never which address, nor whether
the name exists.
"""

from __future__ import annotations

import asyncio

from kafkahooks.delivery import (
    Resolver,
    TargetPolicy,
    TargetRefused,
    check_url,
    destination,
    refuse,
)

__all__ = ["LOOKUP_TIMEOUT", "url_refusal"]

LOOKUP_TIMEOUT = 2.0  # seconds: a slow name is treated as one that does not resolve yet
NOT_PUBLIC = "not a public address"


async def url_refusal(url: str, allow_local: bool, resolver: Resolver) -> str | None:
    """Why ``url`` may not be an endpoint's target now, or ``None``."""
    policy = TargetPolicy(allow_local, allow_local)
    try:
        check_url(url, policy)
    except TargetRefused as exc:
        text = str(exc)
        return text if text.startswith("plain ") else NOT_PUBLIC
    if allow_local:
        return None
    target = destination(url)
    if target.ip is not None:
        return None  # an address literal: check_url judged it
    try:
        answers = await asyncio.wait_for(resolver.resolve(target.host), LOOKUP_TIMEOUT)
    except (OSError, TimeoutError, UnicodeError):
        return None  # does not resolve yet: the guard checks again at every connect
    try:
        refuse(target.host, [address for _, address in answers])
    except TargetRefused:
        return NOT_PUBLIC
    return None
