"""Compiled routes, the deliverer, endpoint gates, retry, error classification, signing,
auth, body encoding, the transport guard and the one HTTP client (`http1`).

A lazy door (PEP 562): a name is imported from its module on first use, so that
``kafkahooks check`` and ``render`` do not import the HTTP client and the deliverer.
``__all__`` lists every name; ``_HOMES`` says where each lives (``kafkahooks/lazy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkahooks.lazy import lazy_door

if TYPE_CHECKING:
    from kafkahooks.delivery.auth import send_authorized
    from kafkahooks.delivery.deliverer import Deliverer
    from kafkahooks.delivery.dns import Resolver, SystemResolver
    from kafkahooks.delivery.errors import (
        DeadLetterWriteError,
        DeliveryError,
        EndpointBackloggedError,
        EndpointDeletedError,
        EndpointDisabledError,
        EndpointGoneError,
        NoTenantError,
        RetryableDeliveryError,
        RouteDisabledError,
        TargetRefusedError,
    )
    from kafkahooks.delivery.failures import FailedAttempts, endpoint_of, response_excerpt
    from kafkahooks.delivery.gates import Gates
    from kafkahooks.delivery.guard import (
        TargetPolicy,
        TargetRefused,
        check_url,
        destination,
        refuse,
        route_problems,
        transport_problems,
    )
    from kafkahooks.delivery.http1 import Http1Sender
    from kafkahooks.delivery.request import OutboundRequest
    from kafkahooks.delivery.retry import DeliveryReport
    from kafkahooks.delivery.route import Route, RouteStates, RouteTable, compile_route
    from kafkahooks.delivery.sample import (
        NoSampleError,
        SampleRequest,
        SampleResult,
        sample_event,
        sample_request,
        send_once,
        tenant_routes,
    )
    from kafkahooks.delivery.sender import Response, Sender
    from kafkahooks.delivery.targets import EndpointTargets

__all__ = [
    "DeadLetterWriteError",
    "Deliverer",
    "DeliveryError",
    "DeliveryReport",
    "EndpointBackloggedError",
    "EndpointDeletedError",
    "EndpointDisabledError",
    "EndpointGoneError",
    "EndpointTargets",
    "FailedAttempts",
    "Gates",
    "Http1Sender",
    "NoSampleError",
    "NoTenantError",
    "OutboundRequest",
    "Resolver",
    "Response",
    "RetryableDeliveryError",
    "Route",
    "RouteDisabledError",
    "RouteStates",
    "RouteTable",
    "SampleRequest",
    "SampleResult",
    "Sender",
    "SystemResolver",
    "TargetPolicy",
    "TargetRefused",
    "TargetRefusedError",
    "check_url",
    "compile_route",
    "destination",
    "endpoint_of",
    "refuse",
    "response_excerpt",
    "route_problems",
    "sample_event",
    "sample_request",
    "send_authorized",
    "send_once",
    "tenant_routes",
    "transport_problems",
]

_HOMES = {
    "DeadLetterWriteError": "errors",
    "Deliverer": "deliverer",
    "FailedAttempts": "failures",
    "endpoint_of": "failures",
    "response_excerpt": "failures",
    "DeliveryError": "errors",
    "EndpointBackloggedError": "errors",
    "EndpointDeletedError": "errors",
    "EndpointDisabledError": "errors",
    "EndpointGoneError": "errors",
    "EndpointTargets": "targets",
    "NoTenantError": "errors",
    "DeliveryReport": "retry",
    "Gates": "gates",
    "Http1Sender": "http1",
    "OutboundRequest": "request",
    "Response": "sender",
    "RetryableDeliveryError": "errors",
    "Route": "route",
    "RouteDisabledError": "errors",
    "RouteStates": "route",
    "RouteTable": "route",
    "Sender": "sender",
    "compile_route": "route",
    "route_problems": "guard",
    "send_authorized": "auth",
    "transport_problems": "guard",
    "TargetPolicy": "guard",
    "TargetRefused": "guard",
    "check_url": "guard",
    "destination": "guard",
    "refuse": "guard",
    "Resolver": "dns",
    "SystemResolver": "dns",
    "TargetRefusedError": "errors",
    "NoSampleError": "sample",
    "SampleRequest": "sample",
    "SampleResult": "sample",
    "sample_event": "sample",
    "sample_request": "sample",
    "send_once": "sample",
    "tenant_routes": "sample",
}


__getattr__ = lazy_door(__name__, globals(), _HOMES)
