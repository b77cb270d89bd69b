"""Stand-ins for DNS and sockets, so address guards are tested without leaving loopback."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult


class StubResolver(AbstractResolver):
    """Maps every name to fixed addresses, as a hostile or internal DNS could."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        fam = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [ResolveResult(hostname=host, host=self.address, port=port, family=fam,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        pass


class LoopbackOnly:
    """Socket factory: records every socket the connector asks for; refuses non-loopback."""

    def __init__(self) -> None:
        self.opened: list[Any] = []

    def __call__(self, addr_info: Any) -> socket.socket:
        self.opened.append(addr_info)
        family, type_, proto, _, address = addr_info
        if address[0] not in ("127.0.0.1", "::1"):
            raise OSError("test safety net: only loopback may be connected")
        return socket.socket(family, type_, proto)
