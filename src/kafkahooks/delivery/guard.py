"""Transport safety: which targets a route may reach, and the one spelling of a host.

By default a target must be ``https://`` and every address it connects to
must be public.  Loopback, private, link-local, cloud-metadata and other
non-global addresses are refused unless the route sets ``allow_private``
(``allow_insecure`` for plain ``http://``) or the process runs with
``KAFKAHOOKS_ALLOW_LOCAL_TARGETS=true``.

Invariant: a URL's host is normalised once, by :func:`normalize_host`, and that
one value is what the config check, the guard, the connection pool, SNI and
``Host`` all use; a host the WHATWG URL parser reads as an IPv4 number
(``2130706433``, ``0x7f.1``, ``１２７.０.０.１``) *is* that address everywhere.
The address check itself (:func:`refuse`) runs in the HTTP client's connect
path on every address a socket is about to connect to, literal or resolved,
so no spelling of a host can reach an address the check did not see.
:func:`check_url` repeats it for IP literals at config time, to fail early.
"""

from __future__ import annotations

import functools
import ipaddress
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import idna
from idna.core import check_bidi, valid_contextj

from kafkahooks.config import through_authority

if TYPE_CHECKING:
    from kafkahooks.config import RouteConfig, RoutesFile

__all__ = [
    "Destination",
    "InvalidTarget",
    "TargetPolicy",
    "TargetRefused",
    "address_category",
    "check_authority",
    "check_url",
    "destination",
    "normalize_host",
    "refuse",
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
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: the embedding is site-chosen
_6TO4 = ipaddress.ip_network("2002::/16")  # RFC 3056: the IPv4 address is bits 16..47


class TargetRefused(OSError):
    """A target is not allowed for this route (scheme, address, or an unusable URL).

    An ``OSError`` so that a refusal raised inside the connect path travels
    like a failed connection, and is then told apart by its class.
    """


class InvalidTarget(ValueError):
    """A target URL that names no usable host or port."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_insecure: bool = False
    allow_private: bool = False


# -- the one spelling of a host ---------------------------------------------------------

# WHATWG "forbidden domain code points": never part of a host name
_FORBIDDEN = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f") | frozenset(map(chr, range(0x20)))
_RADIX_DIGITS = {
    8: frozenset("01234567"),
    10: frozenset("0123456789"),
    16: frozenset("0123456789abcdefABCDEF"),
}


@functools.lru_cache(maxsize=1024)  # GET routes put each event's query in the URL
def normalize_host(host: str) -> str:
    """The one spelling of a URL host (as ``urlsplit`` gives it: no brackets, no port).

    - An IPv6 literal: its compressed form.
    - An ASCII name: lower-cased, one trailing dot removed, nothing else: no
      IDNA validity check, so ``my_host.example.com`` keeps working.
    - A non-ASCII name: UTS-46 ToASCII with the WHATWG URL settings (see
      :func:`_to_ascii`), so ``straße.de`` is ``xn--strae-oqa.de``.
    - A name the WHATWG IPv4 parser reads as a number, after the mapping
      above (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``,
      ``１２７。０。０。１``): that IPv4 address, dotted.

    Raises :class:`InvalidTarget` for a host no URL parser would accept.
    """
    if ":" in host:  # only an IPv6 literal can hold one (urlsplit took the port off)
        if "%" in host:  # zone ids name an interface of this machine: not a URL host
            raise InvalidTarget("target URL host is not a valid IPv6 address")
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise InvalidTarget("target URL host is not a valid IPv6 address") from None
    name = host.lower() if host.isascii() else _to_ascii(host)
    if name.endswith("."):
        name = name[:-1]
    if not name or not _FORBIDDEN.isdisjoint(name):
        raise InvalidTarget("target URL host is not a valid host name")
    if _ends_in_number(name):
        return str(_parse_ipv4(name))
    return name


def _to_ascii(host: str) -> str:
    """UTS-46 ToASCII as the WHATWG URL standard runs it: non-transitional (``ß``
    stays ``ß``), CheckHyphens off, UseSTD3ASCIIRules off, CheckJoiners and
    CheckBidi on, VerifyDnsLength off.

    ``idna.encode(..., uts46=True)`` cannot do this: after mapping it applies
    the IDNA2008 label rules (hyphen positions, the PVALID code point list),
    which WHATWG does not, so it refuses names browsers accept.  So the mapping
    is idna's (``uts46_remap``: the UTS-46 table, std3 rules off, deviations
    such as ``ß`` kept: non-transitional) and each label is then checked and
    Punycode-encoded here.  One simplification: the Bidi rule is checked on each
    label that holds right-to-left characters, where UTS-46 checks every label
    of such a name; a name failing only the wider rule cannot be registered in
    DNS, so its lookup fails and nothing is sent.
    """
    try:
        mapped = idna.uts46_remap(host, std3_rules=False)
    except idna.IDNAError:
        raise InvalidTarget("target URL host is not a valid host name") from None
    labels = mapped.split(".")
    for i, label in enumerate(labels):
        if label.isascii():
            if label[:4] == "xn--":
                _check_label(_decode_alabel(label))
        else:
            _check_label(label)
            labels[i] = "xn--" + label.encode("punycode").decode("ascii")
    return ".".join(labels)


def _decode_alabel(label: str) -> str:
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        raise InvalidTarget("target URL host is not a valid host name") from None
    try:
        valid = (
            bool(decoded)
            and not decoded.isascii()
            and (idna.uts46_remap(decoded, std3_rules=False) == decoded)
        )  # every code point valid
    except idna.IDNAError:
        valid = False
    if not valid:
        raise InvalidTarget("target URL host is not a valid host name")
    return decoded


def _check_label(label: str) -> None:
    """The UTS-46 validity criteria a mapped label must still meet."""
    invalid = InvalidTarget("target URL host is not a valid host name")
    if label[:4] == "xn--" or unicodedata.category(label[0]).startswith("M"):
        raise invalid
    try:
        for pos, char in enumerate(label):
            if char in "\u200c\u200d" and not valid_contextj(label, pos):
                raise invalid
        check_bidi(label)
    except (idna.IDNAError, ValueError):
        raise invalid from None


def _ipv4_number(part: str) -> int | None:
    """WHATWG "IPv4 number parser": decimal, ``0x`` hex or ``0`` octal; ``None`` if not."""
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        return 0
    if not _RADIX_DIGITS[radix].issuperset(part):  # int() would also take "_", " " and "１"
        return None
    return int(part, radix)


def _ends_in_number(name: str) -> bool:
    """WHATWG "ends in a number checker": must this host parse as IPv4?"""
    last = name.rpartition(".")[2]
    if not last:
        return False
    if last.isascii() and last.isdigit():
        return True
    return _ipv4_number(last) is not None


def _parse_ipv4(name: str) -> ipaddress.IPv4Address:
    """WHATWG "IPv4 parser": one to four numbers, the last filling the remaining bytes."""
    invalid = InvalidTarget("target URL host is not a valid IPv4 address")
    parts = name.split(".")
    if len(parts) > 4 or not all(parts):
        raise invalid
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None or n > 255 for n in numbers[:-1]):
        raise invalid
    last = numbers[-1]
    if last is None or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last
    for i, n in enumerate(numbers[:-1]):
        value += (n or 0) << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a URL leads: scheme, normalised host, port; ``ip`` when the host is an address."""

    scheme: str
    host: str
    port: int
    explicit_port: int | None
    ip: IPAddress | None


def destination(url: str) -> Destination:
    """Parse ``url`` and normalise its host; :class:`InvalidTarget` if it leads nowhere."""
    return _destination(through_authority(url))


# per delivery: parsed once per origin (customer endpoints differ by path, not origin)
@functools.lru_cache(maxsize=1024)
def _destination(url: str) -> Destination:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a fullwidth "／" that would normalise into the host
        raise InvalidTarget("target URL is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget(f"unsupported target URL scheme {parts.scheme!r}")
    if not parts.hostname:
        raise InvalidTarget("target URL has no host")
    try:
        explicit_port = parts.port
    except ValueError as exc:  # out of range, or not a number
        raise InvalidTarget(f"target URL port: {exc}") from None
    host = normalize_host(parts.hostname)
    port = explicit_port or (443 if parts.scheme == "https" else 80)
    return Destination(parts.scheme, host, port, explicit_port, _literal_ip(host))


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# -- address categories -------------------------------------------------------------------


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | str | None:
    """What an IPv6 address that carries an IPv4 address stands for.

    The IPv4 address itself (to be classified), a category for forms whose
    embedding cannot be read safely, or ``None`` for a plain IPv6 address.
    """
    value = int(ip)
    high = value >> 32
    if high == 0:  # ::a.b.c.d, IPv4-compatible (deprecated); :: and ::1 are themselves
        return None if value <= 1 else ipaddress.IPv4Address(value)
    if high in (0xFFFF, 0xFFFF_0000):  # ::ffff:a.b.c.d mapped, ::ffff:0:a.b.c.d translated
        return ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    if ip in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    if ip in _6TO4:
        return ipaddress.IPv4Address((value >> 80) & 0xFFFF_FFFF)
    if ip in _LOCAL_NAT64 or ip.is_site_local:  # fec0::/10 is deprecated site-local
        return "private"
    return None


def address_category(address: str | IPAddress) -> str | None:
    """``None`` for a public address, else why it is not (``loopback``, ``private``, ...)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded(ip)
        if isinstance(embedded, str):
            return embedded
        if embedded is not None:
            ip = embedded
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
    if not ip.is_global or ip.is_reserved:
        return "reserved"
    return None


def _refusal(host: str, address: str, category: str) -> str:
    shown = host if host == address else f"{host} ({address})"
    return (
        f"target {shown} is a {category} address; refused unless the route sets "
        "endpoint.allow_private: true or KAFKAHOOKS_ALLOW_LOCAL_TARGETS=true"
    )


def refuse(host: str, addresses: Iterable[str]) -> None:
    """Raise :class:`TargetRefused` if any of ``addresses`` (for ``host``) is not public.

    The connect path calls this on the addresses it is about to connect to.
    Refusing the whole answer (rather than dropping the bad addresses) keeps a
    name that mixes public and private addresses from working by chance.
    """
    for address in addresses:
        try:
            category = address_category(address)
        except ValueError:
            category = "unrecognised"
        if category is not None:
            raise TargetRefused(_refusal(host, address, category))


# -- URL checks ----------------------------------------------------------------------------


def check_url(url: str, policy: TargetPolicy) -> None:
    """Refuse a plain-http URL, an unusable host, or a host that is a non-public address.

    Names are checked where they are connected to (:func:`refuse`).
    """
    check_authority(through_authority(url), policy)


# per delivery: checked once per origin (what it checks is in the scheme and authority)
@functools.lru_cache(maxsize=1024)
def check_authority(url: str, policy: TargetPolicy) -> None:
    """:func:`check_url` of a URL already cut after its authority (``through_authority``):
    the HTTP client has that cut cached with the request's target, so a request pays one
    cache look-up for this check."""
    if not policy.allow_insecure and not url.lower().startswith("https://"):
        scheme = url.partition(":")[0].lower()
        raise TargetRefused(
            f"plain {scheme}:// target refused; use https:// or set endpoint.allow_insecure: true"
        )
    try:
        target = destination(url)
    except InvalidTarget as exc:
        raise TargetRefused(str(exc)) from None
    if target.ip is not None and not policy.allow_private:
        refuse(target.host, [target.host])


def route_problems(route: RouteConfig, allow_local: bool) -> list[str]:
    """Config-time refusals for one route (plain http, unusable hosts, non-public IPs).
    A route with ``endpoints:`` has none here: its endpoints' URLs are checked when
    written to the store, and at every connect."""
    endpoint = route.endpoint
    if endpoint is None:
        return []
    policy = TargetPolicy(
        endpoint.allow_insecure or allow_local, endpoint.allow_private or allow_local
    )
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
