"""Fan-out to customer endpoints: an event a route with ``endpoints:`` takes goes to each
endpoint of its tenant that wants it.

The tenant is read at the route's ``endpoints.tenant`` path: a non-empty string, or
an integer compared as its decimal string (a boolean is not an integer here).
Anything else (missing, null, empty, another type) is :data:`NO_TENANT`: the
event is dead-lettered as ``no-tenant``.  The tenant's endpoints come from the
directory as a group (``group``: the cost depends on that tenant's endpoints only);
when all of them are plain, the group's index by event type answers which take the
event; otherwise an endpoint takes the event when it ``wants`` the route and event type
and its filter predicates hold.  Predicates are compiled once per endpoint version
(id, store offset) and kept while that version is in use.

Invariant: every delivery of one event carries the route's event id (the same
``webhook-id`` for every endpoint, on every attempt, parked or replayed) and its
own endpoint id; nothing here touches a route without ``endpoints:``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final

from kafkahooks.delivery import Route
from kafkahooks.endpoints import Endpoint
from kafkahooks.templating import EventFilter, RenderContext, TemplateSyntaxError, compile_filter

__all__ = ["NO_TENANT", "FanOut", "tenant_of"]

log = logging.getLogger("kafkahooks.endpoints")


class _NoTenant:
    def __repr__(self) -> str:
        return "NO_TENANT"


NO_TENANT: Final = _NoTenant()

# compiled filters kept (least recently used dropped first)
MAX_FILTERS = 4096


def tenant_of(value: Any) -> str | None:
    """The tenant a value at the tenant path names, or ``None``."""
    kind = type(value)
    if kind is str:
        return value if value else None
    if kind is int:  # not bool: type() is exact
        return str(value)
    return None


class FanOut:
    """Which endpoints of the event's tenant take it; their deliveries' contexts."""

    def __init__(self, size: int = MAX_FILTERS) -> None:
        self._filters: OrderedDict[tuple[str, int], EventFilter | None] = OrderedDict()
        self._size = size

    def contexts(self, route: Route, ctx: RenderContext) -> list[RenderContext] | _NoTenant:
        """One context per endpoint that takes the event (none: it is filtered out), or
        :data:`NO_TENANT`.  ``ctx`` is the route's context of the event, made for this
        call: it becomes the first endpoint's."""
        assert route.tenant is not None and route.directory is not None
        value = route.tenant(ctx)
        tenant = value if type(value) is str and value else tenant_of(value)  # str: no call
        if tenant is None:
            return NO_TENANT
        group = route.directory.group(tenant)
        etype = ctx.event_type
        text = etype if type(etype) is str else str(etype)
        # loops, not comprehensions, here: a comprehension's names become cells, and this
        # function made 9 of them on every call, whichever branch it took
        ids: Sequence[str]
        if group.plain:  # the usual tenant: its index answers (endpoints/directory.py)
            ids = group.by_type.get(text, group.any_type)
        else:
            ids = []
            for each in group.endpoints:
                if self._takes(each, route.name, text, ctx):
                    ids.append(each.id)
        if not ids:
            return []
        # the route's context serves the first endpoint (most events match one): each
        # delivery needs its own, as attempts write to it, and this one is not used else
        ctx.endpoint_id = ids[0]
        if len(ids) == 1:
            return [ctx]
        event, event_id, name, version = ctx.event, ctx.event_id, route.name, ctx.payload_version
        out = [ctx]
        for other in ids[1:]:
            out.append(RenderContext(event, event_id, name, version, etype, endpoint_id=other))
        return out

    def _takes(self, endpoint: Endpoint, route: str, etype: str, ctx: RenderContext) -> bool:
        """Whether an endpoint that is not plain takes the event."""
        return endpoint.wants(route, etype) and (not endpoint.filters or self._holds(endpoint, ctx))

    def _holds(self, endpoint: Endpoint, ctx: RenderContext) -> bool:
        key = (endpoint.id, endpoint.offset)
        try:
            keep = self._filters[key]
            self._filters.move_to_end(key)
        except KeyError:
            keep = self._filters[key] = _compiled(endpoint)
            if len(self._filters) > self._size:
                self._filters.popitem(last=False)
        return keep is None or keep(ctx)


def _never(ctx: RenderContext) -> bool:
    return False


def _compiled(endpoint: Endpoint) -> EventFilter | None:
    """The endpoint's predicates as one filter; one that cannot compile (the store
    refuses them at write time) takes nothing, and is logged once per version."""
    try:
        return compile_filter(endpoint.filters)
    except TemplateSyntaxError as exc:
        log.warning(
            "an endpoint's filter does not compile; it takes no event",
            extra={"endpoint_id": endpoint.id, "error": str(exc)},
        )
        return _never
