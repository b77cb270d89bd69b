"""Route filters compiled for the hot path: event-type lists and field predicates.

A route takes an event when its type is in ``events`` (``"*"``: any type) and
every predicate of ``filter`` holds.  A predicate on a field the event does
not have is false, except ``exists: false`` and ``not_equals``/``not_in``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kafkahooks.config import Predicate, RouteConfig
from kafkahooks.templating.sets import TemplateSet
from kafkahooks.templating.templates import MISSING, RenderContext, compile_path

__all__ = ["EventFilter", "compile_filter", "compile_taker"]

Check = Callable[[RenderContext], bool]
EventFilter = Callable[[RenderContext], bool]


def _test(predicate: Predicate) -> Callable[[Any], bool]:
    test = predicate.test
    if test == "exists":
        want = bool(predicate.exists)
        return lambda v: (v is not MISSING and v is not None) is want
    if test == "equals":
        target = predicate.equals
        return lambda v: v is not MISSING and _same(v, target)
    if test == "not_equals":
        other = predicate.not_equals
        return lambda v: v is MISSING or not _same(v, other)
    if test == "in_":
        allowed = list(predicate.in_ or [])
        return lambda v: v is not MISSING and any(_same(v, a) for a in allowed)
    refused = list(predicate.not_in or [])
    return lambda v: v is MISSING or not any(_same(v, r) for r in refused)


def _same(value: Any, target: Any) -> bool:
    # YAML's true must not equal 1, nor "1" equal 1: compare type families too.
    if isinstance(value, bool) or isinstance(target, bool):
        return value is target
    return bool(value == target)


def _check(predicate: Predicate) -> Check:
    getter, _ = compile_path(predicate.field)
    test = _test(predicate)
    return lambda ctx: test(getter(ctx))


def compile_filter(predicates: Iterable[Predicate]) -> EventFilter | None:
    """One callable for all predicates, or ``None`` when there are none."""
    checks = [_check(p) for p in predicates]
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda ctx: all(check(ctx) for check in checks)


def compile_taker(config: RouteConfig, templates: TemplateSet) -> Check:
    """Whether the route takes an event, as one function: the type read at its
    ``event_type`` path (left on ``ctx.event_type``) is in ``events``, one of its
    ``templates`` covers that type, and its ``filter`` holds.  The one rule, used by
    delivery (per event: locals, no attribute lookups) and by ``check``'s sample warnings.
    """
    event_type = compile_path(config.event_type)[0]
    events = None if "*" in config.events else frozenset(config.events)
    covers = templates.covers
    keep = compile_filter(config.filter)

    def takes(ctx: RenderContext) -> bool:
        etype = event_type(ctx)
        etype = ctx.event_type = None if etype is MISSING else etype
        if events is not None and not (isinstance(etype, str) and etype in events):
            return False
        if not covers(etype):
            return False
        return keep is None or keep(ctx)

    return takes
