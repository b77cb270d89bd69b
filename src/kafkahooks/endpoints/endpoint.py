"""A customer's endpoint as the engine uses it: decrypted, immutable, never printed.

This is the in-memory form of one store record (``endpoints/records.py`` holds the
wire form and its encryption).  Every field is plain data; the engine matches events
against it (:meth:`Endpoint.wants`) and the deliverer builds each attempt from the
version the directory holds *at that attempt*.  Its effective state is
:attr:`Endpoint.enabled`: the tenant's ``active`` and no bridge disable of this
revision (``status``, attached by the table, ``endpoints/status.py``).
Invariant: ``repr()`` and ``str()`` show the id, the tenant and the URL's origin
only — never a path, query, header value or secret.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import SecretStr

from kafkahooks.config import Predicate, plain_target, through_authority
from kafkahooks.endpoints.status import EndpointStatus

__all__ = ["Endpoint", "SigningSecret", "origin_of"]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: all a log line, metric or header may show."""
    return _origin(through_authority(url))


# one entry per origin: endpoints differ by path (100,000 of them on a few origins)
@functools.lru_cache(maxsize=4096)
def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True, slots=True, repr=False)
class SigningSecret:
    """One signing secret; ``expires`` (Unix seconds) is ``None`` for the current one."""

    value: SecretStr
    expires: float | None = None

    def __repr__(self) -> str:
        return f"SigningSecret(expires={self.expires!r})"


@dataclass(frozen=True, slots=True, repr=False)
class Endpoint:
    """One version of a customer's endpoint.  ``offset`` is the store offset of the
    record this version came from (the ``revision`` a writer replacing it must give)."""

    id: str
    tenant: str
    url: str  # the whole URL, decrypted: path and query may hold credentials
    secrets: tuple[SigningSecret, ...]  # the current one first, then previous ones
    # ``scheme://host[:port]`` of ``url``, made with the version: every attempt names its
    # gate and target by it, and parsing it per attempt cost ~1.5 µs (one string per
    # origin is shared by all its endpoints: ``_origin`` is cached by authority)
    origin: str = field(init=False, default="", compare=False)
    # ``url`` cut after its authority (``through_authority``), interned: one string per
    # authority, hashed once wherever it is a key.  Each attempt hands it to the sender,
    # which then neither cuts the URL nor caches per URL (its cache of 100,000 URLs missed
    # and evicted on every attempt; ``bench/results.md``: whole bridges 79 % -> 86 % of
    # the static route, best of 5)
    authority: str = field(init=False, default="", compare=False)
    # the request target (path and query) after ``authority`` when the URL is sent as
    # written, as nearly every URL is (``plain_target``); the HTTP client takes it as is
    # (56 bytecodes per attempt less, ``bench/tenant_path.py --opcodes``), for ~70 bytes
    target: str | None = field(init=False, default=None, compare=False)
    # made with the version, for the tenant's group (``endpoints/directory.py``): ``plain``
    # is enabled, on every route and with no predicates (the usual endpoint: which events
    # it takes depends on their type alone, so the group indexes it by type), ``any_type``
    # takes ``"*"``
    plain: bool = field(init=False, default=False, compare=False)
    any_type: bool = field(init=False, default=True, compare=False)
    # the effective state: ``active`` and not disabled by the bridge (a status about this
    # very revision with a disable).  A field made with the version, as the table attaches
    # a status by making a new version: every attempt asks it
    enabled: bool = field(init=False, default=True, compare=False)
    # the current secret when it is the only one (no previous one still signing): the
    # usual endpoint, whose attempts then sign without going through ``signing_secrets``
    sole_secret: SecretStr | None = field(init=False, default=None, compare=False)
    description: str = ""
    event_types: tuple[str, ...] = ("*",)
    routes: tuple[str, ...] | None = None  # None: every route with ``endpoints:``
    filters: tuple[Predicate, ...] = ()
    active: bool = True
    payload_version: str | None = None  # None: the route's
    headers: Mapping[str, str] = field(default_factory=dict)
    secret_headers: Mapping[str, SecretStr] = field(default_factory=dict)
    rate_limit: float | None = None  # requests per second; None: the route's limits
    metadata: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0
    offset: int = -1
    # the bridge's status record about this version (``endpoints/status.py``), if any:
    # never written into the endpoint's own record
    status: EndpointStatus | None = None

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: the derived fields are set once, here
        authority = sys.intern(through_authority(self.url))
        set_field(self, "authority", authority)
        set_field(self, "target", plain_target(self.url, authority))
        set_field(self, "origin", _origin(authority))
        enabled = self.active and (self.status is None or self.status.disabled is None)
        set_field(self, "enabled", enabled)
        set_field(self, "plain", enabled and self.routes is None and not self.filters)
        set_field(self, "any_type", "*" in self.event_types)
        held = self.secrets
        if len(held) == 1 and held[0].expires is None:
            set_field(self, "sole_secret", held[0].value)

    def __repr__(self) -> str:
        return f"Endpoint({self.id!r}, tenant={self.tenant!r}, {self.origin})"

    __str__ = __repr__

    def signing_secrets(self, now: float) -> list[SecretStr]:
        """The secrets to sign with at ``now``: the current one, then every previous
        one not yet expired (an expired one is ignored, and dropped at the next write)."""
        return [s.value for s in self.secrets if s.expires is None or s.expires > now]

    def wants(self, route: str, event_type: object) -> bool:
        """Whether this endpoint subscribes to ``route`` and ``event_type`` (its filter
        predicates are checked by the engine, which holds the event)."""
        if not self.enabled:
            return False
        if self.routes is not None and route not in self.routes:
            return False
        return self.any_type or str(event_type) in self.event_types
