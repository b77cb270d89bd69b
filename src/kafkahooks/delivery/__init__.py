"""Compiled routes, the deliverer, endpoint gates, retry, error classification, signing,
auth, body encoding, the transport guard and the one HTTP client (`http1`)."""

from kafkahooks.delivery.auth import send_authorized
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import (
    DeadLetterWriteError,
    DeliveryError,
    RetryableDeliveryError,
    RouteDisabledError,
)
from kafkahooks.delivery.failures import FailedAttempts, endpoint_of, response_excerpt
from kafkahooks.delivery.gates import Gates
from kafkahooks.delivery.guard import transport_problems
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteStates, RouteTable, compile_route
from kafkahooks.delivery.sender import Response, Sender

__all__ = [
    "DeadLetterWriteError",
    "Deliverer",
    "DeliveryError",
    "DeliveryReport",
    "FailedAttempts",
    "Gates",
    "Http1Sender",
    "OutboundRequest",
    "Response",
    "RetryableDeliveryError",
    "Route",
    "RouteDisabledError",
    "RouteStates",
    "RouteTable",
    "Sender",
    "compile_route",
    "endpoint_of",
    "response_excerpt",
    "send_authorized",
    "transport_problems",
]
