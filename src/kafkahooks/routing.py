"""A route compiled for the hot path: filter, template, signer, static headers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafkahooks.config.models import RouteConfig
from kafkahooks.delivery.request import OutboundRequest, encode_json
from kafkahooks.delivery.sender import USER_AGENT
from kafkahooks.delivery.signing import Signer, signer_for
from kafkahooks.event import Event, event_id
from kafkahooks.templates import (
    MISSING,
    CompiledTemplate,
    Getter,
    RenderContext,
    compile_path,
    compile_template,
)

__all__ = ["Route", "RouteTable", "compile_route"]


@dataclass(frozen=True, slots=True)
class Route:
    config: RouteConfig
    template: CompiledTemplate
    signer: Signer | None
    event_type: Getter
    events: frozenset[str] | None  # None: every event type
    base_headers: dict[str, str]

    @property
    def name(self) -> str:
        return self.config.name

    def match(self, event: Event) -> tuple[bool, Any]:
        """Whether this route takes the event, and the event's type."""
        probe = RenderContext(event, "", self.name, self.config.payload_version)
        etype = self.event_type(probe)
        etype = None if etype is MISSING else etype
        if self.events is None:
            return True, etype
        return isinstance(etype, str) and etype in self.events, etype

    def context(self, event: Event, event_type: Any) -> RenderContext:
        eid = event_id(event.topic, event.partition, event.offset, event.timestamp, self.name)
        return RenderContext(event, eid, self.name, self.config.payload_version, event_type)

    def render_body(self, ctx: RenderContext) -> bytes:
        return encode_json(self.template.render(ctx))

    def build(self, ctx: RenderContext, body: bytes, now: float) -> OutboundRequest:
        headers = dict(self.base_headers)
        headers["webhook-id"] = ctx.event_id
        if self.signer is not None:
            headers.update(self.signer.headers(body, int(now), ctx.event_id))
        endpoint = self.config.endpoint
        return OutboundRequest(endpoint.method, endpoint.url, headers, body, endpoint.timeout)


def compile_route(config: RouteConfig) -> Route:
    endpoint = config.endpoint
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-payload-version": config.payload_version,
    }
    headers.update(endpoint.headers)
    headers.update({k: v.get_secret_value() for k, v in endpoint.secret_headers.items()})
    events = None if "*" in config.events else frozenset(config.events)
    return Route(
        config=config,
        template=compile_template(config.template, config.on_missing),
        signer=signer_for(config.signing) if config.signing else None,
        event_type=compile_path(config.event_type)[0],
        events=events,
        base_headers=headers,
    )


class RouteTable:
    """Active routes indexed by source topic."""

    def __init__(self, configs: Iterable[RouteConfig]) -> None:
        self.routes = [compile_route(c) for c in configs if c.active]
        self.by_topic: dict[str, list[Route]] = {}
        for route in self.routes:
            for topic in route.config.topics:
                self.by_topic.setdefault(topic, []).append(route)

    @property
    def topics(self) -> list[str]:
        return list(self.by_topic)

    def get(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)
