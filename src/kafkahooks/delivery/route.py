"""A route compiled for the hot path: filter, templates, body shape, signer, headers, auth.

A route with ``endpoints:`` (customer endpoints) compiles to the same :class:`Route`
with a ``tenant`` getter, the process's endpoint ``directory`` and its per-endpoint
``targets`` (``delivery/targets.py``) instead of a fixed target: POST, JSON, signed
per endpoint.  Compiling one without a directory is an error naming the route.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

from kafkahooks.config import RouteConfig
from kafkahooks.delivery.auth import Auth, auth_for
from kafkahooks.delivery.body import BodyFormat, Encoder, content_type, encoder_for
from kafkahooks.delivery.errors import RouteDisabledError
from kafkahooks.delivery.guard import TargetPolicy, route_problems
from kafkahooks.delivery.headers import HeaderSource, header_source
from kafkahooks.delivery.request import OutboundRequest, encode_json
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.sender import USER_AGENT
from kafkahooks.delivery.signing import Signer, signer_for
from kafkahooks.delivery.targets import EndpointTargets
from kafkahooks.delivery.tls import ssl_context
from kafkahooks.endpoints import EndpointDirectory
from kafkahooks.event import Event, event_id
from kafkahooks.templating import (
    EventFilter,
    Getter,
    RenderContext,
    TemplateSet,
    compile_path,
    compile_taker,
    compile_templates,
)

__all__ = ["Route", "RouteState", "RouteStates", "RouteTable", "compile_route"]

log = logging.getLogger("kafkahooks.routing")


@dataclass(slots=True)
class RouteState:
    """What a route learns while running: a 410 Gone disables it until restart.

    Later events of a disabled route are dead-lettered at once with the
    reason ``route-disabled``; the change is logged once and shown by the
    ``kafkahooks_route_disabled`` gauge.  The state belongs to the route's
    name, not to one compiled route: a hot reload compiles the route again
    and hands it the same state (:class:`RouteStates`), so it stays disabled.
    """

    disabled: bool = False

    def observe(self, route: str, report: DeliveryReport) -> None:
        if report.status == 410 and not self.disabled:
            # the metrics (prometheus_client) are imported here, not at module level:
            # compiling a route (``render``) does not need them
            from kafkahooks.telemetry import METRICS

            self.disabled = True
            METRICS.route_disabled.labels(route).set(1)
            log.warning("route disabled: its endpoint answered 410 Gone; later events are "
                        "dead-lettered as route-disabled until restart", extra={"route": route})

    def short_circuit(self) -> DeliveryReport | None:
        """The report for an event of a disabled route (no request is made)."""
        return DeliveryReport(0, None, RouteDisabledError()) if self.disabled else None


class RouteStates:
    """Route states by route name, for the life of the process (they outlive reloads)."""

    def __init__(self) -> None:
        self._by_name: dict[str, RouteState] = {}

    def of(self, name: str) -> RouteState:
        found = self._by_name.get(name)
        if found is None:
            found = self._by_name[name] = RouteState()
        return found


@dataclass(frozen=True, slots=True, repr=False)
class Route:
    config: RouteConfig
    template: TemplateSet
    signer: Signer | None
    base_headers: dict[str, str]
    takes: EventFilter  # the event type is listed, a template covers it, the filter holds
    encode: Encoder = encode_json
    query: bool = False  # GET: the encoded payload is the query string
    event_headers: HeaderSource | None = None
    auth: Auth | None = None
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    ssl: SSLContext | None = None
    state: RouteState = field(default_factory=RouteState)
    # ``endpoints:`` routes: the tenant's path, where endpoints are found, their targets
    tenant: Getter | None = None
    directory: EndpointDirectory | None = None
    targets: EndpointTargets | None = None
    name: str = field(init=False)  # read per event: a plain attribute, not config.name
    # ``endpoints:`` routes that park (retry topics): how many deliveries one customer
    # endpoint may hold in the process (``engine/dispatch.py``); ``None`` on any other
    # route.  Read per event: made once, as ``name``
    endpoint_queue: int | None = field(init=False)
    # the route's ``limits`` bound something (each customer endpoint then has a gate of
    # its own, ``Gates.to_send``); asked per attempt: made once, as ``name``
    limited: bool = field(init=False)

    def __post_init__(self) -> None:
        config = self.config
        object.__setattr__(self, "name", config.name)
        tenants, queue = config.endpoints, None
        if tenants is not None and config.retry_topics is not None:
            queue = tenants.endpoint_queue
        object.__setattr__(self, "endpoint_queue", queue)
        object.__setattr__(self, "limited", config.limits.bounds)

    def __repr__(self) -> str:
        # base_headers hold secret header values: a repr names the route, never them
        endpoint = self.config.endpoint
        if endpoint is None:
            return f"Route({self.name!r}, POST <endpoints of tenant {self.config.tenant_path}>)"
        return f"Route({self.name!r}, {endpoint.method} {endpoint.shown_url})"

    def match(self, event: Event) -> tuple[bool, Any]:
        """Whether this route takes the event, and the event's type."""
        probe = RenderContext(event, "", self.name, self.config.payload_version)
        return self.takes(probe), probe.event_type

    def take(self, event: Event) -> RenderContext | None:
        """``match`` and ``context`` in one (the pipeline's path): the event's context
        when this route takes it."""
        ctx = RenderContext(event, "", self.name, self.config.payload_version)
        if not self.takes(ctx):
            return None
        ctx.event_id = self._event_id(event)
        return ctx

    def context(self, event: Event, event_type: Any) -> RenderContext:
        eid = self._event_id(event)
        return RenderContext(event, eid, self.name, self.config.payload_version, event_type)

    def _event_id(self, event: Event) -> str:
        return event_id(event.topic, event.partition, event.offset, event.timestamp, self.name)

    def render_body(self, ctx: RenderContext) -> bytes:
        """The exact bytes that are signed: the body, or for GET the query string."""
        return self.encode(self.template.render(ctx))

    def build(self, ctx: RenderContext, body: bytes, now: float) -> OutboundRequest:
        # per-event headers first: configured and signature headers always win
        headers = self.event_headers(ctx) if self.event_headers is not None else {}
        headers.update(self.base_headers)
        headers["webhook-id"] = ctx.event_id
        if self.signer is not None:
            headers.update(self.signer.headers(body, int(now), ctx.event_id))
        endpoint = self.config.endpoint
        assert endpoint is not None, "a tenant route's requests are built by its targets"
        url = endpoint.url
        if self.query:
            if body:
                url = f"{url}{'&' if '?' in url else '?'}{body.decode('ascii')}"
            body = b""
        return OutboundRequest(
            endpoint.method, url, headers, body, endpoint.timeout,
            policy=self.policy, ssl=self.ssl,
        )


def compile_route(
    config: RouteConfig,
    allow_local: bool = False,
    state: RouteState | None = None,
    directory: EndpointDirectory | None = None,
) -> Route:
    """``allow_local``: the process-wide KAFKAHOOKS_ALLOW_LOCAL_TARGETS switch; ``state``:
    what the route learned so far (a new one when ``None``); ``directory``: where a
    route with ``endpoints:`` finds them (required for one)."""
    if config.endpoints is not None:
        return _tenant_route(config, allow_local, state, directory)
    endpoint = config.target
    query = endpoint.method == "GET"
    fmt: BodyFormat = "query" if query else endpoint.format
    headers = {"user-agent": USER_AGENT, "webhook-payload-version": config.payload_version}
    ctype = content_type(fmt)
    if ctype is not None:
        headers["content-type"] = ctype
    headers.update(endpoint.headers)
    headers.update({k: v.get_secret_value() for k, v in endpoint.secret_headers.items()})
    templates = compile_templates(config)
    policy = TargetPolicy(
        endpoint.allow_insecure or allow_local, endpoint.allow_private or allow_local
    )
    return Route(
        config=config,
        template=templates,
        signer=signer_for(config.signing) if config.signing else None,
        base_headers=headers,
        takes=compile_taker(config, templates),
        encode=encoder_for(fmt, endpoint.xml_root),
        query=query,
        event_headers=header_source(endpoint),
        auth=None if endpoint.auth.type == "none" else auth_for(endpoint.auth, config.name, policy),
        policy=policy,
        ssl=ssl_context(endpoint.tls),
        state=state if state is not None else RouteState(),
    )


def _tenant_route(
    config: RouteConfig,
    allow_local: bool,
    state: RouteState | None,
    directory: EndpointDirectory | None,
) -> Route:
    """A route with ``endpoints:``: POST JSON to each endpoint, signed with its secrets."""
    tenants = config.endpoints
    assert tenants is not None
    if directory is None:
        raise ValueError(
            f"route {config.name!r} delivers to customer endpoints (endpoints:), but this "
            "process has no endpoint directory (the endpoint store is not loaded)"
        )
    headers = {
        "user-agent": USER_AGENT,
        "webhook-payload-version": config.payload_version,
        "content-type": "application/json",
    }
    templates = compile_templates(config)
    # the process-wide switch, as for every target; the HTTP client's guard checks each connect
    policy = TargetPolicy(allow_local, allow_local)
    return Route(
        config=config,
        template=templates,
        signer=None,
        base_headers=headers,
        takes=compile_taker(config, templates),
        policy=policy,
        state=state if state is not None else RouteState(),
        tenant=compile_path(tenants.tenant)[0],
        directory=directory,
        targets=EndpointTargets(
            config.signing, headers, config.payload_version, tenants.timeout, policy
        ),
    )


class RouteTable:
    """Active routes indexed by source topic.  ``states``: the process's route states, so
    a route compiled again on reload keeps what it learned (a 410 Gone); ``directory``:
    the customer endpoints, for routes with ``endpoints:``."""

    def __init__(
        self,
        configs: Iterable[RouteConfig],
        allow_local: bool = False,
        states: RouteStates | None = None,
        directory: EndpointDirectory | None = None,
    ) -> None:
        active = [c for c in configs if c.active]
        refused = [p for c in active for p in route_problems(c, allow_local)]
        if refused:
            raise ValueError("; ".join(refused))
        self.directory = directory
        self.routes = [
            compile_route(c, allow_local, states.of(c.name) if states else None, directory)
            for c in active
        ]
        self.by_topic: dict[str, list[Route]] = {}
        for route in self.routes:
            for topic in route.config.topics:
                self.by_topic.setdefault(topic, []).append(route)

    @property
    def topics(self) -> list[str]:
        return list(self.by_topic)
