"""The one small interface between delivery logic and the HTTP client.

Signing, auth and retry never see the client: they hand an
:class:`OutboundRequest` to a :class:`Sender` and get a :class:`Response`.
The product has one sender, ``http1.Http1Sender``; tests may stand in their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kafkahooks import __version__
from kafkahooks.delivery.request import OutboundRequest

__all__ = ["USER_AGENT", "Response", "Sender"]

USER_AGENT = f"kafkahooks/{__version__}"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    retry_after: str | None = None
    body: bytes = b""  # at most the request's ``response_limit`` bytes


class Sender(Protocol):
    async def send(self, request: OutboundRequest) -> Response:
        """Send once; raise ``RetryableDeliveryError`` on transport failure."""
        ...

    async def aclose(self) -> None: ...
