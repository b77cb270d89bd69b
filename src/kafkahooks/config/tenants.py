"""Options for routes that deliver to their customers' endpoints, and for the endpoint store.

A route with ``endpoints: {tenant: <path>}`` has no fixed target: each event goes to
the endpoints its tenant registered (``endpoints/``).  The route still gives the
event stream's shape (templates, signing scheme and header names, retry, ordering);
every endpoint has its own URL, headers and signing secrets, so the route's
``signing`` names the scheme only.  Requests are POST, JSON.

``endpoint_store`` says where the endpoints live (a compacted Kafka topic) and
holds the encryption keys for their secrets: ``SecretStr`` from the moment they
are parsed, never printed; and how the bridge disables a failing endpoint
(``auto_disable_after``, ``status_write_interval``) and where it announces it
(``events_topic``: ``endpoint.disabled`` / ``endpoint.enabled``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["TENANT_RETRY_DELAYS", "EndpointStoreConfig", "TenantEndpoints"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The Standard Webhooks specification's schedule (seconds): a tenant route's retry topics
# unless it names its own.  An endpoint down for a day still gets its events.
TENANT_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class TenantEndpoints(_Strict):
    """``tenant``: the placeholder path of the event's tenant (``value.accountId``,
    ``headers.tenant``, ``key``); ``timeout``: one request, connect to answer;
    ``endpoint_queue``: deliveries one endpoint may hold in the process (waiting or
    trying) before the next are parked at once."""

    tenant: str = Field(min_length=1)
    timeout: float = Field(default=15.0, gt=0, le=600)
    endpoint_queue: int = Field(default=100, ge=1, le=100_000)


class EndpointStoreConfig(_Strict):
    """The compacted topic holding customer endpoints, and the keys encrypting them
    (``${VAR}``: the first key encrypts, all of them decrypt)."""

    topic: str = Field(min_length=1)
    encryption_keys: SecretStr
    max_endpoints_per_tenant: int = Field(default=50, ge=1, le=100_000)
    # seconds of failures without one success before the bridge disables an endpoint
    # (null: never by the clock; a 410 Gone still disables): 5 days, as Standard Webhooks
    auto_disable_after: float | None = Field(default=5 * 86400.0, gt=0)
    # at most one status write per endpoint per replica in this many seconds
    status_write_interval: float = Field(default=60.0, ge=0, le=86400)
    # where endpoint.disabled / endpoint.enabled events go (null: nowhere)
    events_topic: str | None = Field(default=None, min_length=1)

    @field_validator("encryption_keys")
    @classmethod
    def _set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("no encryption key (is its environment variable set?)")
        return value
