"""A customer endpoint's request on one route: URL, headers, signature, payload version.

A route with ``endpoints:`` has no target of its own: each attempt reads the endpoint
from the directory as it is then, and :class:`EndpointTargets` makes its request from
that version.  Nothing is kept per endpoint: with 100,000 endpoints a cache of compiled
targets either holds ~1.6 KB each or, bounded, misses on nearly every attempt
(bench/endpoints.py: 28,500 rebuilds in 30,000 attempts).  The request is made in one
pass instead: the route's headers and signer shape are shared, the endpoint's headers
go on top, and its secrets sign from the padded blocks of their HMAC keys, made per
attempt (``delivery/signing.py``).  A target object between the endpoint and its
request, with its own copy of the headers, cost ~6 µs per attempt
(``bench/tenant_path.py``).  A request is signed with every secret the endpoint holds
at that moment (during a rotation the current and the previous one: Standard Webhooks
lists both signatures in one header); an expired previous secret no longer signs.

Invariant: a request is made from one endpoint version only.
"""

from __future__ import annotations

from kafkahooks.config import SigningConfig
from kafkahooks.delivery.errors import PermanentDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.signing import Pads, signer_for
from kafkahooks.endpoints import Endpoint
from kafkahooks.templating import RenderContext

__all__ = ["EndpointTargets", "NoSigningSecretError"]


class NoSigningSecretError(PermanentDeliveryError):
    """The route signs, and the endpoint holds no secret valid now."""

    def __init__(self) -> None:
        super().__init__("endpoint has no signing secret")


class EndpointTargets:
    """One route's requests to its customer endpoints, from each endpoint as it is then."""

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

    def version(self, endpoint: Endpoint) -> str:
        """The payload version the endpoint gets: its own, else the route's."""
        return endpoint.payload_version or self._payload_version

    def request(
        self, endpoint: Endpoint, ctx: RenderContext, body: bytes, now: float
    ) -> OutboundRequest:
        """The POST of ``body`` to ``endpoint``, with the event's ``webhook-id`` (the same
        for every endpoint of the event) and the signature of ``body`` by each of the
        endpoint's secrets valid at ``now``.  ``ctx.payload_version`` is the one the body
        was rendered for (:meth:`version`)."""
        headers = self._base.copy()
        headers["webhook-payload-version"] = ctx.payload_version
        if endpoint.headers:
            headers.update(endpoint.headers)
        if endpoint.secret_headers:
            headers.update({k: v.get_secret_value() for k, v in endpoint.secret_headers.items()})
        headers["webhook-id"] = ctx.event_id
        signer = self._signer
        if signer is not None:
            sole = endpoint.sole_secret
            if sole is not None:  # the usual endpoint: one secret, no rotation under way
                pads: tuple[Pads, ...] = (signer.key_pads(sole.get_secret_value()),)
            else:
                secrets = endpoint.signing_secrets(now)  # expired previous ones are left out
                if not secrets:
                    raise NoSigningSecretError()
                keyed = []  # a loop, not a comprehension: ``signer`` stays a plain local
                for secret in secrets:
                    keyed.append(signer.key_pads(secret.get_secret_value()))
                pads = tuple(keyed)
            headers.update(signer.headers(body, int(now), ctx.event_id, pads))
        return OutboundRequest(
            "POST", endpoint.url, headers, body, self._timeout, policy=self._policy,
            authority=endpoint.authority, target=endpoint.target,
        )  # fmt: skip
