"""The ``api:`` section of the routes file: how ``kafkahooks api`` listens and who may use it.

Admin tokens are listed by id with the SHA-256 of their secret (hex), never the
secret: the file can be read by whoever deploys it without handing out the token.
Tenant tokens are not configured here; admin tokens issue them into the store.
Invariant: nothing in this section is a secret, so nothing in it needs masking.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AdminToken", "ApiConfig", "PortalConfig"]

TOKEN_ID_PATTERN = r"^[a-z0-9]{4,32}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdminToken(_Strict):
    """One admin token: its id (the ``<id>`` of ``kht_<id>_<secret>``) and the SHA-256
    of its secret, as ``kafkahooks api --new-admin-token ID`` prints them."""

    id: str = Field(pattern=TOKEN_ID_PATTERN)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PortalConfig(_Strict):
    """``api.portal``: the endpoint portal at ``/portal``.  ``frame_ancestors``: the
    origins that may show it in a frame (the CSP ``frame-ancestors`` sources; ``'self'``
    by default, ``'none'`` for no frame); ``link_minutes``: how long a session link can
    be opened (once); ``session_minutes``: how long the signed-in session lasts."""

    frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"])
    link_minutes: float = Field(default=10.0, gt=0, le=60)
    session_minutes: float = Field(default=60.0, gt=0, le=24 * 60)

    @field_validator("frame_ancestors")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        for source in value:  # each is put into a header: no separators, no spaces
            if not source or any(c in source for c in ' ;,\r\n\t"') or not source.isprintable():
                raise ValueError("give CSP sources such as https://app.example.com or 'self'")
        return value


class ApiConfig(_Strict):
    """``listen``: ``host:port``; ``audit_topic``: where every write's intent and outcome
    go (acks=all); ``writes_per_second``/``write_burst``: each token's write rate on one
    replica (429 beyond it); ``idempotency_hours``: how long an ``Idempotency-Key``
    answers with the first response."""

    listen: str = "127.0.0.1:8088"
    admin_tokens: list[AdminToken] = Field(default_factory=list)
    audit_topic: str = Field(default="kafkahooks.audit", min_length=1)
    writes_per_second: float = Field(default=5.0, gt=0, le=10_000)
    write_burst: int = Field(default=20, ge=1, le=100_000)
    idempotency_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    portal: PortalConfig = Field(default_factory=PortalConfig)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, colon, port = value.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("give host:port, e.g. 0.0.0.0:8088")
        return value

    @field_validator("admin_tokens")
    @classmethod
    def _unique(cls, tokens: list[AdminToken]) -> list[AdminToken]:
        ids = [t.id for t in tokens]
        if len(ids) != len(set(ids)):
            raise ValueError("an admin token id is listed twice")
        return tokens

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
