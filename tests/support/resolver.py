"""Stand-ins for DNS and sockets, so address guards are tested without leaving loopback."""

from __future__ import annotations

import socket
from typing import Any


class StubResolver:
    """Maps every name to fixed addresses, as a hostile or internal DNS could
    (``kafkahooks.delivery.dns.Resolver``)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.lookups: list[str] = []

    async def resolve(self, host: str) -> list[tuple[int, str]]:
        self.lookups.append(host)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in self.addresses]


class LoopbackOnly:
    """Socket factory: records every socket asked for; refuses non-loopback.

    The guard runs before the factory is called, so a refused address never
    reaches ``opened``; the refusal here is only a safety net.
    """

    def __init__(self) -> None:
        self.opened: list[Any] = []

    def __call__(self, addr_info: Any) -> socket.socket:
        self.opened.append(addr_info)
        family, type_, proto, _, address = addr_info
        if address[0] not in ("127.0.0.1", "::1"):
            raise OSError("test safety net: only loopback may be connected")
        return socket.socket(family, type_, proto)
