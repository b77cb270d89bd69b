"""Transport safety: which targets a route may reach.

By default a target must be ``https://`` and every address it resolves to
must be public.  Loopback, private, link-local, cloud-metadata and other
non-global addresses are refused unless the route sets ``allow_private``
(``allow_insecure`` for plain ``http://``) or the process runs with
``KAFKAHOOKS_ALLOW_LOCAL_TARGETS=true``.

The check runs where the address is chosen: :class:`GuardedResolver` sits in
the HTTP client's connector, so the address checked is the address
connected to (no window for a DNS answer that changes in between), and IP
literals, which the connector never resolves, are checked from the URL.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

if TYPE_CHECKING:
    from kafkahooks.config.models import RouteConfig, RoutesFile

__all__ = [
    "GuardedResolver",
    "TargetPolicy",
    "TargetRefused",
    "address_category",
    "check_url",
    "route_problems",
    "transport_problems",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(OSError):
    """A target address is not allowed for this route.

    An ``OSError`` so that the HTTP client's connector passes it up like a
    failed DNS lookup instead of trying the next address.
    """


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_insecure: bool = False
    allow_private: bool = False

    @property
    def open(self) -> bool:
        return self.allow_insecure and self.allow_private


def _embedded_v4(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_category(address: str | IPAddress) -> str | None:
    """``None`` for a public address, else why it is not (``loopback``, ``private``, ...)."""
    ip = _embedded_v4(ipaddress.ip_address(address) if isinstance(address, str) else address)
    if ip in _METADATA:
        return "cloud-metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def _refusal(host: str, address: str, category: str) -> str:
    shown = host if host == address else f"{host} ({address})"
    return (f"target {shown} is a {category} address; refused unless the route sets "
            "endpoint.allow_private: true or KAFKAHOOKS_ALLOW_LOCAL_TARGETS=true")


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, policy: TargetPolicy) -> None:
    """Refuse a plain-http URL or a literal non-public IP; names are checked on resolve."""
    _check_url(url, policy)


@functools.lru_cache(maxsize=1024)  # per delivery: a route's URL is checked once
def _check_url(url: str, policy: TargetPolicy) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" and not policy.allow_insecure:
        raise TargetRefused(f"plain {parts.scheme}:// target refused; use https:// or set "
                            "endpoint.allow_insecure: true")
    if policy.allow_private:
        return
    host = parts.hostname or ""
    ip = _literal_ip(host)
    if ip is not None:
        category = address_category(ip)
        if category is not None:
            raise TargetRefused(_refusal(host, str(ip), category))


class GuardedResolver(AbstractResolver):
    """Resolve with ``inner``, then refuse the lot if any address is not public.

    Refusing the whole answer (rather than dropping the bad addresses) keeps
    a name that mixes public and private addresses from working by chance.
    """

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            category = address_category(result["host"])
            if category is not None:
                raise TargetRefused(_refusal(host, result["host"], category))
        return results

    async def close(self) -> None:
        await self._inner.close()


def route_problems(route: RouteConfig, allow_local: bool) -> list[str]:
    """Config-time refusals for one route (plain http, literal non-public IPs)."""
    endpoint = route.endpoint
    policy = TargetPolicy(endpoint.allow_insecure or allow_local,
                          endpoint.allow_private or allow_local)
    urls = [("endpoint.url", endpoint.url)]
    if endpoint.auth.type == "oauth2":
        urls.append(("endpoint.auth.token_url", endpoint.auth.token_url))
    problems: list[str] = []
    for where, url in urls:
        try:
            check_url(url, policy)
        except TargetRefused as exc:
            problems.append(f"route {route.name!r} → {where}: {exc}")
    return problems


def transport_problems(config: RoutesFile, allow_local: bool) -> list[str]:
    """:func:`route_problems` of every active route (inactive ones send nothing)."""
    return [p for r in config.routes if r.active for p in route_problems(r, allow_local)]
