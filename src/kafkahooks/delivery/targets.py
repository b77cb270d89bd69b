"""A customer endpoint compiled for one route: URL, headers, signer, payload version.

A route with ``endpoints:`` has no target of its own: each attempt reads the
endpoint from the directory as it is then and :class:`EndpointTargets` makes its
target for that attempt.  Nothing is kept per endpoint: with 100,000 endpoints a
cache of compiled targets either holds ~1.6 KB each or, bounded, misses on nearly
every attempt (bench/endpoints.py: 28,500 rebuilds in 30,000 attempts at ~20 µs
each, most of it keying HMAC state).  A target is cheap instead: the route's
headers and signer shape are shared, and the endpoint's secrets are the padded
blocks of its HMAC keys, made per attempt (``delivery/signing.py``).  It signs with
every secret the endpoint holds at that moment (during a rotation the current and
the previous one: Standard Webhooks lists both signatures in one header); an expired
previous secret no longer signs.

Invariant: a target is built from one endpoint version only; its ``repr`` names
the endpoint id and origin, never the URL's path, a header value or a secret.
"""

from __future__ import annotations

from kafkahooks.config import SigningConfig
from kafkahooks.delivery.errors import PermanentDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.signing import Pads, Signer, signer_for
from kafkahooks.endpoints import Endpoint
from kafkahooks.templating import RenderContext

__all__ = ["EndpointTarget", "EndpointTargets"]


class EndpointTarget:
    """A plain slotted class, not a frozen dataclass: one is made per attempt, and a
    frozen dataclass sets each of its ten fields through ``object.__setattr__``."""

    __slots__ = (
        "endpoint_id",
        "headers",
        "offset",
        "origin",
        "pads",
        "payload_version",
        "policy",
        "signer",
        "timeout",
        "url",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        headers: dict[str, str],  # the route's, then the endpoint's (secret ones included)
        signer: Signer | None,  # the route's scheme and header names, shared
        pads: tuple[Pads, ...],  # the endpoint's secrets valid now, current first
        payload_version: str,
        timeout: float,
        policy: TargetPolicy,
    ) -> None:
        self.endpoint_id = endpoint.id
        self.offset = endpoint.offset
        self.url = endpoint.url
        self.origin = endpoint.origin
        self.headers = headers
        self.signer = signer
        self.pads = pads
        self.payload_version = payload_version
        self.timeout = timeout
        self.policy = policy

    @property
    def secrets(self) -> int:
        """How many secrets sign (tests, logs)."""
        return len(self.pads)

    def __repr__(self) -> str:
        return f"EndpointTarget({self.endpoint_id!r}, {self.origin})"

    def build(self, ctx: RenderContext, body: bytes, now: float) -> OutboundRequest:
        """The POST of ``body`` to this endpoint, with the event's ``webhook-id`` (the
        same for every endpoint of the event) and the signature of ``body``."""
        headers = self.headers.copy()
        headers["webhook-id"] = ctx.event_id
        if self.signer is not None:
            headers.update(self.signer.headers(body, int(now), ctx.event_id, self.pads))
        return OutboundRequest("POST", self.url, headers, body, self.timeout, policy=self.policy)


class NoSigningSecretError(PermanentDeliveryError):
    """The route signs, and the endpoint holds no secret valid now."""

    def __init__(self) -> None:
        super().__init__("endpoint has no signing secret")


class EndpointTargets:
    """One route's targets: one per attempt, from the endpoint as it is then."""

    def __init__(
        self,
        signing: SigningConfig | None,
        base_headers: dict[str, str],
        payload_version: str,
        timeout: float,
        policy: TargetPolicy,
    ) -> None:
        # the scheme and header names once per route; an endpoint brings only its keys
        self._signer = signer_for(signing, []) if signing is not None else None
        self._base = {**base_headers, "webhook-payload-version": payload_version}
        self._payload_version = payload_version
        self._timeout = timeout
        self._policy = policy
        self.built = 0  # targets made so far (tests)

    def target(self, endpoint: Endpoint, now: float) -> EndpointTarget:
        self.built += 1
        version = endpoint.payload_version or self._payload_version
        headers = self._base  # not copied: build() copies it for each request
        if endpoint.headers or endpoint.secret_headers or version != self._payload_version:
            headers = {**headers, "webhook-payload-version": version, **endpoint.headers}
            headers.update({k: v.get_secret_value() for k, v in endpoint.secret_headers.items()})
        pads: tuple[Pads, ...] = ()
        if self._signer is not None:
            secrets = endpoint.signing_secrets(now)  # expired previous ones are left out
            if not secrets:
                raise NoSigningSecretError()
            key_pads = self._signer.key_pads  # a list, not a generator: cheaper for 1-2
            pads = tuple([key_pads(s.get_secret_value()) for s in secrets])
        return EndpointTarget(
            endpoint, headers, self._signer, pads, version,
            self._timeout, self._policy,
        )  # fmt: skip
