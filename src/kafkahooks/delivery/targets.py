"""A customer endpoint compiled for one route: URL, headers, signer, payload version.

A route with ``endpoints:`` has no target of its own: each attempt reads the
endpoint from the directory as it is then and takes its compiled target from
:class:`EndpointTargets`, which builds one per endpoint version (id, store
offset) and keeps it until that version changes, so an unchanged endpoint costs
no rebuild.  The signer signs with every secret the endpoint holds at that
moment (during a rotation the current and the previous one: Standard Webhooks
lists both signatures in one header), so a target is also rebuilt once a
previous secret expires.

Invariant: a target is built from one endpoint version only; its ``repr`` names
the endpoint id and origin, never the URL's path, a header value or a secret.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

from kafkahooks.config import SigningConfig
from kafkahooks.delivery.errors import PermanentDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.signing import Signer, signer_for
from kafkahooks.endpoints import Endpoint
from kafkahooks.templating import RenderContext

__all__ = ["EndpointTarget", "EndpointTargets"]

# compiled targets kept per route (least recently used dropped first): a bound on
# memory with 100,000 endpoints, far above the endpoints one replica sends to at once
MAX_TARGETS = 4096


@dataclass(frozen=True, slots=True, repr=False)
class EndpointTarget:
    endpoint_id: str
    offset: int
    url: str
    origin: str
    headers: dict[str, str]  # the route's, then the endpoint's (secret ones included)
    signer: Signer | None
    payload_version: str
    timeout: float
    policy: TargetPolicy
    valid_until: float = math.inf  # when a previous secret expires: build again then
    secrets: int = field(default=0)  # how many secrets sign (tests, logs)

    def __repr__(self) -> str:
        return f"EndpointTarget({self.endpoint_id!r}, {self.origin})"

    def build(self, ctx: RenderContext, body: bytes, now: float) -> OutboundRequest:
        """The POST of ``body`` to this endpoint, with the event's ``webhook-id`` (the
        same for every endpoint of the event) and the signature of ``body``."""
        headers = dict(self.headers)
        headers["webhook-id"] = ctx.event_id
        if self.signer is not None:
            headers.update(self.signer.headers(body, int(now), ctx.event_id))
        return OutboundRequest("POST", self.url, headers, body, self.timeout, policy=self.policy)


class NoSigningSecretError(PermanentDeliveryError):
    """The route signs, and the endpoint holds no secret valid now."""

    def __init__(self) -> None:
        super().__init__("endpoint has no signing secret")


class EndpointTargets:
    """One route's compiled targets, by endpoint id (see the module doc)."""

    def __init__(
        self,
        signing: SigningConfig | None,
        base_headers: dict[str, str],
        payload_version: str,
        timeout: float,
        policy: TargetPolicy,
        size: int = MAX_TARGETS,
    ) -> None:
        self._signing = signing
        self._base = base_headers
        self._payload_version = payload_version
        self._timeout = timeout
        self._policy = policy
        self._size = size
        self._targets: OrderedDict[str, EndpointTarget] = OrderedDict()
        self.built = 0  # targets built so far (tests: an unchanged endpoint builds none)

    def target(self, endpoint: Endpoint, now: float) -> EndpointTarget:
        found = self._targets.get(endpoint.id)
        if found is not None and found.offset == endpoint.offset and now < found.valid_until:
            self._targets.move_to_end(endpoint.id)
            return found
        built = self._build(endpoint, now)
        self._targets[endpoint.id] = built
        self._targets.move_to_end(endpoint.id)
        if len(self._targets) > self._size:
            self._targets.popitem(last=False)
        return built

    def forget(self, endpoint_id: str) -> None:
        self._targets.pop(endpoint_id, None)

    def _build(self, endpoint: Endpoint, now: float) -> EndpointTarget:
        self.built += 1
        version = endpoint.payload_version or self._payload_version
        headers = dict(self._base)
        headers["webhook-payload-version"] = version
        headers.update(endpoint.headers)
        headers.update({k: v.get_secret_value() for k, v in endpoint.secret_headers.items()})
        signer = None
        secrets = endpoint.signing_secrets(now)
        if self._signing is not None:
            if not secrets:
                raise NoSigningSecretError()
            signer = signer_for(self._signing, [s.get_secret_value() for s in secrets])
        expiries = [s.expires for s in endpoint.secrets if s.expires is not None]
        later = [e for e in expiries if e > now]
        return EndpointTarget(
            endpoint_id=endpoint.id,
            offset=endpoint.offset,
            url=endpoint.url,
            origin=endpoint.origin,
            headers=headers,
            signer=signer,
            payload_version=version,
            timeout=self._timeout,
            policy=self._policy,
            valid_until=min(later, default=math.inf),
            secrets=len(secrets),
        )
